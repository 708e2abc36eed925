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

#[test]
fn an_endpoint_turns_export_on_unless_disabled() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
    let both = |traces: &str, metrics: &str| Otlp {
        traces_endpoint: Some(traces.into()).filter(|t: &String| !t.is_empty()),
        metrics_endpoint: Some(metrics.into()).filter(|m: &String| !m.is_empty()),
    };
    let at_4318 = both("http://collector:4318/v1/traces", "http://collector:4318/v1/metrics");
    assert_eq!(otlp(&[base]), Ok(Some(at_4318)));
    let signal = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example/traces");
    let own = both("https://otlp.example/traces", "http://collector:4318/v1/metrics");
    assert_eq!(otlp(&[base, signal]), Ok(Some(own)));
    assert_eq!(otlp(&[signal]), Ok(Some(both("https://otlp.example/traces", ""))));
    assert_eq!(otlp(&[base, ("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
    let no_metrics = otlp(&[base, ("OTEL_METRICS_EXPORTER", "none")]);
    assert_eq!(no_metrics, Ok(Some(both("http://collector:4318/v1/traces", ""))));
    let none = [base, ("OTEL_TRACES_EXPORTER", "none"), ("OTEL_METRICS_EXPORTER", "none")];
    assert_eq!(otlp(&none), Ok(None));
    assert!(otlp(&[base, ("OTEL_SDK_DISABLED", "false")]).expect("valid").is_some());
}

#[test]
fn a_value_this_build_cannot_honour_stops_start_up_naming_it() {
    let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
    // gRPC is a protocol, only not built in: export is turned off with a warning (`init_with_otlp`), start-up goes on.
    let err = otlp(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect_err("grpc is not built in");
    assert!(matches!(err, OtlpError::Protocol { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    assert!(err.to_string().starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: `grpc`"), "{err}");
    // A value that is no protocol at all is a mistake, which stops start-up.
    let err = otlp(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http")]).expect_err("no such protocol");
    assert!(matches!(err, OtlpError::Invalid { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    // Each signal's own protocol wins over the general one.
    let both = [
        base,
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    assert!(otlp(&both).expect("valid").is_some());
    let metrics_grpc =
        [base, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
    let err = otlp(&metrics_grpc).expect_err("metrics would go over grpc");
    assert!(matches!(err, OtlpError::Protocol { name: "OTEL_EXPORTER_OTLP_PROTOCOL", .. }), "{err}");
    let err = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).expect_err("not a URL");
    assert!(err.to_string().starts_with("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
    let err = otlp(&[base, ("OTEL_SDK_DISABLED", "yes")]).expect_err("not a boolean");
    assert!(err.to_string().starts_with("OTEL_SDK_DISABLED"), "{err}");
    let err = otlp(&[base, ("OTEL_TRACES_EXPORTER", "zipkin")]).expect_err("no such exporter here");
    assert!(err.to_string().starts_with("OTEL_TRACES_EXPORTER"), "{err}");
}
