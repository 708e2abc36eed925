use std::collections::HashMap;

use super::*;

fn otlp(vars: &[(&str, &str)]) -> Result<Option<Otlp>, OtlpError> {
    let env: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Otlp::from_env(|k| env.get(k).cloned())
}

#[test]
fn without_otel_variables_nothing_is_exported() {
    assert_eq!(otlp(&[]), Ok(None));
    // Settings that only shape an export do not start one.
    let shaping = [
        ("OTEL_SERVICE_NAME", "mailgate"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", " "),
    ];
    assert_eq!(otlp(&shaping), Ok(None));
    // And this process, which never called `init_with_otlp`, has tracing off: no span context is stored.
    assert!(!on());
}

fn http(endpoint: &str) -> Option<Export> {
    Some(Export { endpoint: endpoint.into(), transport: Transport::HttpProtobuf })
}

fn grpc(endpoint: &str) -> Option<Export> {
    Some(Export { endpoint: endpoint.into(), transport: Transport::Grpc })
}

#[test]
fn an_endpoint_turns_export_on_unless_disabled() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
    let both = |traces, metrics| Otlp { traces, metrics };
    let at_4318 = both(http("http://collector:4318/v1/traces"), http("http://collector:4318/v1/metrics"));
    assert_eq!(otlp(&[base]), Ok(Some(at_4318)));
    let signal = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example/traces");
    let own = both(http("https://otlp.example/traces"), http("http://collector:4318/v1/metrics"));
    assert_eq!(otlp(&[base, signal]), Ok(Some(own)));
    assert_eq!(otlp(&[signal]), Ok(Some(both(http("https://otlp.example/traces"), None))));
    assert_eq!(otlp(&[base, ("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
    let no_metrics = otlp(&[base, ("OTEL_METRICS_EXPORTER", "none")]);
    assert_eq!(no_metrics, Ok(Some(both(http("http://collector:4318/v1/traces"), None))));
    let none = [base, ("OTEL_TRACES_EXPORTER", "none"), ("OTEL_METRICS_EXPORTER", "none")];
    assert_eq!(otlp(&none), Ok(None));
    assert!(otlp(&[base, ("OTEL_SDK_DISABLED", "false")]).expect("valid").is_some());
}

#[test]
fn grpc_sends_both_signals_to_the_endpoint_as_given() {
    // What Azure Container Apps' agent sets: the general protocol and a gRPC endpoint, used with no path appended.
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-agent:4317");
    let both = otlp(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    let expected = Otlp { traces: grpc("http://otel-agent:4317"), metrics: grpc("http://otel-agent:4317") };
    assert_eq!(both, Ok(Some(expected)));
    // Each signal's own protocol wins over the general one, either way.
    let mixed = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4317"),
    ]);
    let expected = Otlp { traces: grpc("http://collector:4317"), metrics: http("http://collector:4318/v1/metrics") };
    assert_eq!(mixed, Ok(Some(expected)));
    let mixed = otlp(&[
        base,
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
    ]);
    let expected = Otlp { traces: grpc("http://otel-agent:4317"), metrics: http("http://otel-agent:4317/v1/metrics") };
    assert_eq!(mixed, Ok(Some(expected)));
    // No TLS is built into the gRPC client: an https:// endpoint with grpc stops start-up naming the endpoint's variable.
    let tls =
        [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
    let err = otlp(&tls).expect_err("grpc over TLS is not built in");
    assert!(matches!(err, OtlpError::Invalid { name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", .. }), "{err}");
    assert!(err.to_string().contains("plaintext"), "{err}");
}

#[test]
fn a_value_this_build_cannot_honour_stops_start_up_naming_it() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    // http/json is a protocol, only not built in: export is turned off with a warning (`init_with_otlp`), start-up
    // goes on.
    let err = otlp(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).expect_err("http/json is not built in");
    assert!(matches!(err, OtlpError::Protocol { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    assert!(err.to_string().starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: `http/json`"), "{err}");
    // A value that is no protocol at all is a mistake, which stops start-up.
    let err = otlp(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http")]).expect_err("no such protocol");
    assert!(matches!(err, OtlpError::Invalid { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    // Each signal's own protocol wins over the general one.
    let both = [
        base,
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ];
    assert!(otlp(&both).expect("valid").is_some());
    let metrics_json =
        [base, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")];
    let err = otlp(&metrics_json).expect_err("metrics would go over http/json");
    assert!(matches!(err, OtlpError::Protocol { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    let err = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).expect_err("not a URL");
    assert!(err.to_string().starts_with("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
    let err = otlp(&[base, ("OTEL_SDK_DISABLED", "yes")]).expect_err("not a boolean");
    assert!(err.to_string().starts_with("OTEL_SDK_DISABLED"), "{err}");
    let err = otlp(&[base, ("OTEL_TRACES_EXPORTER", "zipkin")]).expect_err("no such exporter here");
    assert!(err.to_string().starts_with("OTEL_TRACES_EXPORTER"), "{err}");
}

#[test]
fn an_endpoint_with_credentials_is_refused_without_showing_them() {
    for name in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        let refused = otlp(&[(name, "http://user:s3cret@collector:4318")]).expect_err("credentials in the URL");
        let text = refused.to_string();
        assert!(text.starts_with(name) && text.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{text}");
        assert!(!text.contains("s3cret") && !text.contains("user:"), "the secret is not repeated: {text}");
    }
}
