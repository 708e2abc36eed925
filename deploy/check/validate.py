"""Checks of deploy/ that no off-the-shelf tool makes: that the deployment files agree with mailgate's source
(setting names, the credential kinds, the metrics it exports) and with each other, and that the Bicep files parse.
Run by deploy/check.sh with the Python of its tool venv; each subcommand prints what it checked and exits 1 on
the first kind of problem it finds.

    validate.py settings FILE...          every MAILGATE_* name is a setting mailgate reads (or one marked coming)
    validate.py metrics DASHBOARD ALERTS  every query names a metric mailgate exports
    validate.py kubernetes APP MIGRATE    the rendered overlays: workload identity, Key Vault, one image, who the
                                          NetworkPolicies admit, the Ingress's TLS
    validate.py bicep MAIN PARAMS         both parse; the parameters file sets declared parameters, all required ones
    validate.py links FILE...             every relative link in these Markdown files names a file and heading there
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Settings the deployment files already use although mailgate does not read them yet (deploy/README.md, "Coming").
COMING_SETTINGS: set[str] = set()


def fail(problems):
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1)


def known_settings():
    """The settings mailgate reads: the rows of the README's settings table, which `cargo test` keeps equal to the
    declarations in src/config (src/config/docs.rs); and the command line's own, the settings file."""
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r"^\| `(DATABASE_URL|MAILGATE_[A-Z0-9_]+)` \|", readme, re.M))
    cli = (ROOT / "src/cli/mod.rs").read_text()
    names |= set(re.findall(r'env = "(MAILGATE_[A-Z_]+)"', cli))
    return names


def credential_kinds():
    """The values src/config/credential.rs accepts for MAILGATE_CREDENTIAL."""
    text = (ROOT / "src/config/credential.rs").read_text()
    return set(re.findall(r'^\s*"([a-z-]+)" =>', text, re.M))


def settings(files):
    known = known_settings()
    kinds = credential_kinds()
    problems = []
    used = set()
    checked = 0
    for f in files:
        text = Path(f).read_text()
        for name in set(re.findall(r"\bMAILGATE_[A-Z0-9_]+\b", text)):
            used.add(name)
            if name not in known and name not in COMING_SETTINGS:
                problems.append(f"{f}: {name} is not a setting mailgate reads (src/config)")
        # `MAILGATE_CREDENTIAL=x`, `MAILGATE_CREDENTIAL: x`, or Bicep's name/value pair.
        values = re.findall(r"MAILGATE_CREDENTIAL['\"]?\s*[:=]\s*['\"]?([A-Za-z0-9_-]+)", text)
        values += re.findall(r"name: 'MAILGATE_CREDENTIAL'\s*value: '([A-Za-z0-9_-]+)'", text)
        checked += len(values)
        for v in values:
            if v not in kinds:
                problems.append(f"{f}: MAILGATE_CREDENTIAL={v}; src/config/credential.rs accepts {sorted(kinds)}")
    if problems:
        fail(problems)
    coming = sorted(used & COMING_SETTINGS)
    print(f"settings: {len(used)} MAILGATE_* names in {len(files)} files are mailgate's"
          + (f" (coming: {', '.join(coming)})" if coming else "")
          + f"; {checked} MAILGATE_CREDENTIAL values within {sorted(kinds)}")


def exported_metrics():
    """Series names mailgate exports: each family registered in src/metrics/mod.rs (through its `counter`,
    `histogram` or `gauge` helper), with the names the encoder derives: `_total` for counters, and a histogram's
    `_bucket`, `_sum` and `_count`."""
    registered = re.findall(r'\b(counter|histogram|gauge)\(\s*r,\s*"(mailgate_[a-z_]+)"',
                            (ROOT / "src/metrics/mod.rs").read_text())
    names = set()
    for kind, name in registered:
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def metrics(dashboard, alerts):
    exported = exported_metrics()
    queries = []
    for panel in json.loads(Path(dashboard).read_text())["panels"]:
        for target in panel.get("targets", []):
            queries.append((f"{dashboard}: panel {panel['title']!r}", target["expr"]))
    problems = []
    for group in yaml.safe_load(Path(alerts).read_text())["groups"]:
        for rule in group["rules"]:
            queries.append((f"{alerts}: alert {rule['alert']}", rule["expr"]))
            # Each alert names its runbook section in deploy/README.md.
            page, _, anchor = rule["annotations"]["runbook"].partition("#")
            headings = {slug(h) for h in re.findall(r"^#+ (.+)$", (ROOT / page).read_text(), re.M)}
            if anchor not in headings:
                problems.append(f"{alerts}: alert {rule['alert']}: runbook {page}#{anchor} has no such section")
    for where, expr in queries:
        named = set(re.findall(r"\b(mailgate_[a-z_]+)\b", expr))
        if not named:
            problems.append(f"{where}: names no mailgate metric: {expr}")
        for name in sorted(named - exported):
            problems.append(f"{where}: {name} is not exported (src/metrics/mod.rs)")
    if problems:
        fail(problems)
    print(f"metrics: {len(queries)} queries name only metrics mailgate exports ({len(exported)} series names)")


def documents(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def pod_spec(doc):
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]
    if doc["kind"] == "Job":
        return doc["spec"]["template"]
    return None


OWN_LABEL = ("app.kubernetes.io/part-of", "mailgate")


def network(path, docs):
    """NetworkPolicies admit callers only from named namespaces, and every peer in another namespace selects pods
    that can exist there (not mailgate's own labels, which kustomize's includeSelectors adds to every podSelector).
    Every Ingress serves its hosts over TLS, to a Service of the overlay."""
    problems = []
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for doc in docs:
        where = f"{path}: {doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "NetworkPolicy":
            spec = doc["spec"]
            peers = [p for rule in spec.get("egress", []) for p in rule.get("to", [])]
            for rule in spec.get("ingress", []):
                if not rule.get("from"):
                    problems.append(f"{where}: an ingress rule without `from` admits every source")
                for peer in rule.get("from", []):
                    peers.append(peer)
                    if "ipBlock" not in peer and not peer.get("namespaceSelector", {}).get("matchLabels"):
                        problems.append(f"{where}: an ingress peer admits every namespace: {peer}")
            for peer in peers:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if "namespaceSelector" in peer and labels.get(OWN_LABEL[0]) == OWN_LABEL[1]:
                    problems.append(f"{where}: a peer in another namespace selects mailgate's own labels: {peer}")
        elif doc["kind"] == "Ingress":
            spec = doc["spec"]
            secured = {h for t in spec.get("tls", []) if t.get("secretName") for h in t.get("hosts", [])}
            for rule in spec.get("rules", []):
                if rule.get("host") not in secured:
                    problems.append(f"{where}: host {rule.get('host')} is not served over TLS")
                for p in rule.get("http", {}).get("paths", []):
                    backend = p["backend"]["service"]
                    service = services.get(backend["name"])
                    ports = {port.get("name") for port in (service or {}).get("spec", {}).get("ports", [])}
                    if service is None or backend["port"].get("name") not in ports:
                        problems.append(f"{where}: {p['path']} goes to {backend}, which the overlay lacks")
    return problems


def kubernetes(app, migrate):
    problems = []
    images = {}
    for path in (app, migrate):
        docs = documents(path)
        accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
        classes = {d["metadata"]["name"]: d for d in docs if d["kind"] == "SecretProviderClass"}
        for spc in classes.values():
            params = spc["spec"]["parameters"]
            if any(not isinstance(v, str) for v in params.values()):
                problems.append(f"{path}: SecretProviderClass {spc['metadata']['name']}: parameters must be strings")
            for key in ("clientID", "keyvaultName", "tenantId", "objects"):
                if not params.get(key):
                    problems.append(f"{path}: SecretProviderClass {spc['metadata']['name']} lacks {key}")
            objects = yaml.safe_load(params.get("objects", "")) or {}
            for entry in objects.get("array", []):
                obj = yaml.safe_load(entry)
                if not {"objectName", "objectType"} <= obj.keys():
                    problems.append(f"{path}: SecretProviderClass object without objectName/objectType: {obj}")
        problems += network(path, docs)
        for doc in docs:
            template = pod_spec(doc)
            if template is None:
                continue
            where = f"{path}: {doc['kind']} {doc['metadata']['name']}"
            spec = template["spec"]
            if template["metadata"]["labels"].get("azure.workload.identity/use") != "true":
                problems.append(f"{where}: pod lacks the label azure.workload.identity/use: \"true\"")
            account = accounts.get(spec.get("serviceAccountName"))
            if not account or "azure.workload.identity/client-id" not in account["metadata"].get("annotations", {}):
                problems.append(f"{where}: its service account lacks azure.workload.identity/client-id")
            spc_clients = set()
            for volume in spec.get("volumes", []):
                name = volume.get("csi", {}).get("volumeAttributes", {}).get("secretProviderClass")
                if name and name not in classes:
                    problems.append(f"{where}: mounts SecretProviderClass {name}, which the overlay lacks")
                elif name:
                    spc_clients.add(classes[name]["spec"]["parameters"]["clientID"])
            if account and spc_clients - {account["metadata"]["annotations"].get("azure.workload.identity/client-id")}:
                problems.append(f"{where}: its SecretProviderClass reads Key Vault as another identity than the pod's")
            for container in spec["containers"]:
                images.setdefault(container["image"], []).append(where)
    if len(images) != 1:
        problems.append(f"the service and the migration must run one image: {images}")
    if problems:
        fail(problems)
    print(f"kubernetes: workload identity and Key Vault wired in {app} and {migrate}; one image: {next(iter(images))}")


def bicep_parser():
    import tree_sitter_bicep
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bicep.language()))


def syntax_errors(tree, path):
    errors = []

    def walk(node):
        if node.is_error or node.is_missing:
            row, col = node.start_point
            errors.append(f"{path}:{row + 1}:{col + 1}: cannot parse {node.text[:60]!r}")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return errors


def bicep(main, params):
    parser = bicep_parser()
    source = Path(main).read_bytes()
    tree = parser.parse(source)
    problems = syntax_errors(tree, main)
    declared, required = set(), set()
    for node in tree.root_node.children:
        if node.type != "parameter_declaration":
            continue
        name = node.child_by_field_name("name") or next(c for c in node.children if c.type == "identifier")
        declared.add(name.text.decode())
        if not any(c.type == "=" for c in node.children):
            required.add(name.text.decode())
    # A .bicepparam file assigns values with `param name = expression`, which this grammar does not know; read
    # each assignment as the equivalent `var name = expression`, so that every value is still parsed.
    text = Path(params).read_text()
    using = re.search(r"^using '([^']+)'", text, re.M)
    if not using or (Path(params).parent / using.group(1)).resolve() != Path(main).resolve():
        problems.append(f"{params}: its `using` must name {main}")
    assigned = re.findall(r"^param ([A-Za-z_][A-Za-z0-9_]*) =", text, re.M)
    as_vars = re.sub(r"^param ([A-Za-z_][A-Za-z0-9_]*) =", r"var \1 =", text, flags=re.M)
    as_vars = re.sub(r"^using .*$", "", as_vars, flags=re.M)
    problems += syntax_errors(parser.parse(as_vars.encode()), params)
    for name in assigned:
        if name not in declared:
            problems.append(f"{params}: sets {name}, which {main} does not declare")
    for name in sorted(required - set(assigned)):
        problems.append(f"{params}: does not set the required parameter {name}")
    if problems:
        fail(problems)
    print(f"bicep: {main} parses ({len(declared)} parameters); {params} parses and sets {len(assigned)} of them, "
          f"every required one")


def slug(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def links(files):
    problems, count = [], 0
    for f in files:
        text = Path(f).read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            count += 1
            path, _, anchor = target.partition("#")
            dest = (Path(f).parent / path).resolve() if path else Path(f).resolve()
            if not dest.exists():
                problems.append(f"{f}: link to {target}: no such file")
            elif anchor and dest.is_file():
                headings = {slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text(), re.M)}
                if anchor not in headings:
                    problems.append(f"{f}: link to {target}: no such heading")
    if problems:
        fail(problems)
    print(f"links: {count} relative links in {len(files)} Markdown files resolve")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"settings": lambda: settings(args), "metrics": lambda: metrics(*args), "kubernetes": lambda: kubernetes(*args),
     "bicep": lambda: bicep(*args), "links": lambda: links(args)}[command]()


if __name__ == "__main__":
    main()
