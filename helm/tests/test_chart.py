#!/usr/bin/env python3
"""Checks of the Helm chart's rendered output, deploy/Dockerfile and
deploy/compose.yaml. Run by `make helm-lint` (helm/tests/helm-lint.sh) with the
venv of .tools/, after it rendered helm/inspraak/ci/*-values.yaml into
.tools/rendered/. Prints one line per check and closes with
"N passed, N failed"; exits non-zero when any check fails."""

import os
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import yaml
import kubernetes_validate

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "inspraak"
RENDERED = ROOT / ".tools" / "rendered"
HELM = os.environ.get("HELM", str(ROOT / ".tools" / "helm" / "helm"))
K8S_VERSION = "1.30.0"
RELEASE = "inspraak"

SERVICES = {"identity": 50051, "projects": 50052, "contributions": 50053, "notifications": 50054}
MATRIX = ["minimal", "production", "operators"]
CUSTOM_KINDS = {"ServiceMonitor", "Cluster", "RabbitmqCluster"}


def load(name):
    docs = [d for d in yaml.safe_load_all((RENDERED / f"{name}.yaml").read_text()) if d]
    assert docs, f"{name}: nothing rendered"
    return docs


RENDERS = {name: load(name) for name in MATRIX}


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def component(doc):
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def by_component(docs, kind):
    """The service's objects of `kind`; the dashboards' ConfigMaps belong to
    no service and are tested on their own."""
    mine = [d for d in of_kind(docs, kind) if "app.kubernetes.io/component" in d["metadata"]["labels"]]
    out = {component(d): d for d in mine}
    assert len(out) == len(mine), f"two {kind}s for one service"
    return out


def pod_specs(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]["spec"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def helm_lint(*args, chart=CHART):
    return subprocess.run([HELM, "lint", "--strict", str(chart), *args],
                          capture_output=True, text=True)


def helm_template(*args, chart=CHART):
    out = subprocess.run([HELM, "template", RELEASE, str(chart), *args],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


MINIMAL = str(CHART / "ci" / "minimal-values.yaml")

# --------------------------------------------------------------- the checks
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def core_objects_valid_against_kubernetes_1_30_schemas():
    count = 0
    for name, docs in RENDERS.items():
        for d in docs:
            if d["kind"] in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f"{name}: {d['kind']} {d['metadata']['name']}: {e.message} at {list(e.path)}")
            count += 1
    assert count > 50, f"only {count} objects validated"


@test
def custom_resources_have_their_required_fields():
    prod, ops, minimal = RENDERS["production"], RENDERS["operators"], RENDERS["minimal"]
    assert not [d for d in minimal if d["kind"] in CUSTOM_KINDS], "minimal renders custom resources"
    (sm,) = of_kind(prod, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"], "ServiceMonitor without selector"
    assert sm["spec"]["endpoints"] and all(e.get("port") for e in sm["spec"]["endpoints"])
    clusters = {d["metadata"]["name"]: d for d in of_kind(ops, "Cluster")}
    assert set(clusters) == {f"{RELEASE}-{s}-db" for s in SERVICES}, clusters.keys()
    for cname, c in clusters.items():
        assert c["apiVersion"] == "postgresql.cnpg.io/v1"
        assert isinstance(c["spec"]["instances"], int) and c["spec"]["instances"] >= 1
        assert c["spec"]["storage"]["size"]
        svc = cname[len(RELEASE) + 1:-3]
        assert c["spec"]["bootstrap"]["initdb"] == {"database": svc, "owner": svc}
    (rmq,) = of_kind(ops, "RabbitmqCluster")
    assert rmq["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rmq["metadata"]["name"] == f"{RELEASE}-rabbitmq"
    assert isinstance(rmq["spec"]["replicas"], int)


@test
def every_container_is_non_root_read_only_without_capabilities():
    for name, docs in RENDERS.items():
        n = 0
        for d, spec in pod_specs(docs):
            where = f"{name}: {d['kind']} {d['metadata']['name']}"
            assert spec.get("automountServiceAccountToken") is False, where
            psc = spec["securityContext"]
            assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0, where
            for c in spec["containers"] + spec.get("initContainers", []):
                sc = c["securityContext"]
                assert sc["runAsNonRoot"] is True, where
                assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0, where
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                vols = {v["name"]: v for v in spec.get("volumes", [])}
                assert "emptyDir" in vols[mounts["/tmp"]], f"{where}: no emptyDir /tmp"
                n += 1
        assert n == 8, f"{name}: {n} containers, expected 4 services + 4 migrations"
        for sa in of_kind(docs, "ServiceAccount"):
            assert sa["automountServiceAccountToken"] is False


@test
def deployments_have_grpc_probes_and_fit_the_drain_time():
    for name, docs in RENDERS.items():
        deps = by_component(docs, "Deployment")
        assert set(deps) == set(SERVICES), f"{name}: {sorted(deps)}"
        for svc, d in deps.items():
            spec = d["spec"]["template"]["spec"]
            (c,) = spec["containers"]
            port = SERVICES[svc]
            assert c["args"] == ["serve", svc]
            expected_ports = [
                {"name": "grpc", "containerPort": port, "protocol": "TCP"},
                {"name": "admin", "containerPort": 9090, "protocol": "TCP"},
            ]
            if svc == "notifications":
                # the one-click unsubscribe that residents' mail clients POST to
                expected_ports.append({"name": "unsubscribe", "containerPort": 8084, "protocol": "TCP"})
            assert c["ports"] == expected_ports, c["ports"]
            assert c["livenessProbe"]["grpc"] == {"port": port, "service": ""}, c["livenessProbe"]
            assert c["readinessProbe"]["grpc"] == {"port": port, "service": svc}, c["readinessProbe"]
            assert c["startupProbe"]["grpc"]["service"] == ""
            sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            cm = by_component(docs, "ConfigMap")[svc]["data"]
            drain = int(cm["SHUTDOWN_DRAIN_TIMEOUT"].rstrip("s"))
            assert drain == 20
            assert spec["terminationGracePeriodSeconds"] >= sleep + drain + 5, spec["terminationGracePeriodSeconds"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            assert {"configMapRef": {"name": f"{RELEASE}-{svc}"}} in c["envFrom"]
            assert spec["serviceAccountName"] == f"{RELEASE}-{svc}"


@test
def services_expose_the_grpc_ports():
    for name, docs in RENDERS.items():
        for svc, s in by_component(docs, "Service").items():
            expected = [{"name": "grpc", "port": SERVICES[svc], "targetPort": "grpc",
                         "protocol": "TCP", "appProtocol": "grpc"}]
            if svc == "notifications":
                expected.append({"name": "unsubscribe", "port": 8084, "targetPort": "unsubscribe",
                                 "protocol": "TCP", "appProtocol": "http"})
            assert s["spec"]["ports"] == expected, s["spec"]["ports"]
        assert set(by_component(docs, "ServiceAccount")) == set(SERVICES)


@test
def configmaps_hold_no_secrets_and_point_at_identity():
    for name, docs in RENDERS.items():
        for svc, cm in by_component(docs, "ConfigMap").items():
            data = cm["data"]
            assert not {"DATABASE_URL", "BUS_URL", "SERVICE_CLIENTS", "SMTP_PASSWORD",
                        "SIGNING_KEY_ENCRYPTION_KEY"} & set(data), data
            assert not [v for v in data.values() if "://" in v and "@" in v], "credentials in a ConfigMap"
            assert data["IDENTITY_URL"] == f"http://{RELEASE}-identity:50051"
            assert data["GRPC_ADDR"] == f"0.0.0.0:{SERVICES[svc]}"


def expected_db_secret(name, svc):
    if name == "operators":
        return f"{RELEASE}-{svc}-db-app", "uri"
    return f"inspraak-{svc}-db", "uri"


@test
def each_service_reads_database_url_from_its_own_secret():
    for name, docs in RENDERS.items():
        seen = set()
        for d, spec in pod_specs(docs):
            svc = d["metadata"]["labels"]["app.kubernetes.io/component"].removesuffix("-migrate")
            ref = env_of(spec["containers"][0])["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == expected_db_secret(name, svc), (name, svc, ref)
            seen.add(ref["name"])
        assert len(seen) == 4, f"{name}: services share a database Secret: {seen}"


@test
def bus_url_is_built_from_the_rabbitmq_secret():
    for name, docs in RENDERS.items():
        secret = f"{RELEASE}-rabbitmq-default-user" if name == "operators" else "inspraak-rabbitmq"
        for svc, d in by_component(docs, "Deployment").items():
            env = env_of(d["spec"]["template"]["spec"]["containers"][0])
            for var, key in [("HOST", "host"), ("PORT", "port"), ("USERNAME", "username"), ("PASSWORD", "password")]:
                assert env[f"RABBITMQ_{var}"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
            assert env["BUS_URL"]["value"] == \
                "amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@$(RABBITMQ_HOST):$(RABBITMQ_PORT)/%2f"
            names = list(env)
            assert names.index("BUS_URL") > max(names.index(f"RABBITMQ_{v}") for v in ("HOST", "PORT", "USERNAME", "PASSWORD"))


@test
def identity_and_notifications_secrets_go_to_their_service_only():
    deps = by_component(RENDERS["production"], "Deployment")
    for svc, d in deps.items():
        env = env_of(d["spec"]["template"]["spec"]["containers"][0])
        assert ("SERVICE_CLIENTS" in env) == (svc == "identity"), svc
        assert ("SMTP_PASSWORD" in env) == (svc == "notifications"), svc
    env = env_of(deps["identity"]["spec"]["template"]["spec"]["containers"][0])
    assert env["SERVICE_CLIENTS"]["valueFrom"]["secretKeyRef"] == {"name": "inspraak-identity-clients", "key": "SERVICE_CLIENTS"}
    assert env["SIGNING_KEY_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "inspraak-identity-keys", "key": "kek-2026-11"}
    assert env["SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS"]["valueFrom"]["secretKeyRef"] == \
        {"name": "inspraak-identity-keys", "key": "kek-2025-11"}
    # The signing keys' key-encryption key reaches identity, from a Secret, in
    # every render; the previous one only while it is being changed.
    for name, docs in RENDERS.items():
        for svc, d in by_component(docs, "Deployment").items():
            env = env_of(d["spec"]["template"]["spec"]["containers"][0])
            assert ("SIGNING_KEY_ENCRYPTION_KEY" in env) == (svc == "identity"), (name, svc)
            if svc == "identity":
                assert env["SIGNING_KEY_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "inspraak-identity-keys"
                assert ("SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS" in env) == (name == "production"), name
    env = env_of(deps["notifications"]["spec"]["template"]["spec"]["containers"][0])
    assert env["SMTP_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "inspraak-smtp", "key": "username"}
    assert env["SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "inspraak-smtp", "key": "password"}
    cm = by_component(RENDERS["production"], "ConfigMap")["notifications"]["data"]
    assert cm["SMTP_HOST"] == "smtp.city.example" and cm["SMTP_PORT"] == "587"


def rule_ports(rule):
    return {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}


@test
def network_policies_allow_the_designed_paths_and_nothing_else():
    assert not of_kind(RENDERS["minimal"], "NetworkPolicy")
    for name in ("production", "operators"):
        pols = by_component(RENDERS[name], "NetworkPolicy")
        assert set(pols) == set(SERVICES), name
        for svc, p in pols.items():
            spec = p["spec"]
            assert spec["policyTypes"] == ["Ingress", "Egress"]
            assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == svc
            ing = spec["ingress"][0]
            assert rule_ports(ing) == {("TCP", SERVICES[svc])}, ing
            # notifications alone also takes the unsubscribe POSTs, from the
            # ingress only; every other service has its gRPC port alone
            if svc == "notifications":
                assert len(spec["ingress"]) == 2, spec["ingress"]
                unsubscribe = spec["ingress"][1]
                assert rule_ports(unsubscribe) == {("TCP", 8084)}, unsubscribe
                if name == "production":
                    assert unsubscribe["from"] == [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "ingress"}}}], unsubscribe
            else:
                assert len(spec["ingress"]) == 1, spec["ingress"]
            if name == "production":
                assert ing["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"] == "inspraak"
                assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}} in ing["from"]
            expected = [{("UDP", 53), ("TCP", 53)}, {("TCP", 50051)}, {("TCP", 5672)}, {("TCP", 5432)}, {("TCP", 4317)}]
            if svc == "notifications":
                expected.append({("TCP", 587), ("TCP", 465)})
            got = [rule_ports(r) for r in spec["egress"]]
            assert got == expected, f"{name} {svc}: egress {got}"
            for r in spec["egress"]:
                for peer in r.get("to", []):
                    assert set(peer) <= {"podSelector", "namespaceSelector", "ipBlock"}, peer
            idrule = spec["egress"][1]
            assert idrule["to"] == [{"podSelector": {"matchLabels": {
                "app.kubernetes.io/name": "inspraak-identity", "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": "identity"}}}], idrule
            if name == "operators":
                assert spec["egress"][3]["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{RELEASE}-{svc}-db"}}}]
                assert spec["egress"][2]["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": f"{RELEASE}-rabbitmq"}}}]
            else:
                assert spec["egress"][3]["to"] and spec["egress"][2]["to"] and spec["egress"][4]["to"]


@test
def migration_jobs_are_hooks_running_inspraak_migrate():
    for name, docs in RENDERS.items():
        jobs = by_component(docs, "Job")
        assert set(jobs) == {f"{s}-migrate" for s in SERVICES}, name
        for comp, j in jobs.items():
            svc = comp.removesuffix("-migrate")
            ann = j["metadata"]["annotations"]
            hook = "post-install,pre-upgrade" if name == "operators" else "pre-install,pre-upgrade"
            assert ann["helm.sh/hook"] == hook, ann
            assert "before-hook-creation" in ann["helm.sh/hook-delete-policy"]
            spec = j["spec"]["template"]["spec"]
            assert spec["restartPolicy"] == "Never"
            assert spec["containers"][0]["args"] == ["migrate", svc]


@test
def autoscaling_and_disruption_budgets():
    prod, minimal = RENDERS["production"], RENDERS["minimal"]
    hpas = by_component(prod, "HorizontalPodAutoscaler")
    assert set(hpas) == set(SERVICES)
    for svc, h in hpas.items():
        assert h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{RELEASE}-{svc}"}
        assert "replicas" not in by_component(prod, "Deployment")[svc]["spec"]
    assert not of_kind(minimal, "HorizontalPodAutoscaler")
    for docs in RENDERS.values():
        pdbs = by_component(docs, "PodDisruptionBudget")
        assert set(pdbs) == set(SERVICES)
        for svc, p in pdbs.items():
            assert p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == svc


@test
def lint_rejects_a_misspelt_key():
    for bad in ("services.identity.databse.existingSecret=x", "imgae.repository=x", "networkPolicy.enable=true"):
        r = helm_lint("-f", MINIMAL, "--set", bad)
        assert r.returncode != 0, f"helm lint accepted {bad}"
        assert "not allowed" in (r.stdout + r.stderr), r.stdout + r.stderr


@test
def lint_requires_the_required_values():
    assert helm_lint("-f", MINIMAL).returncode == 0
    for missing in ("image.repository=", "rabbitmq.existingSecret=", "services.projects.database.existingSecret=",
                    "serviceMonitor.enabled=true", "services.identity.signingKeys.existingSecret="):
        r = helm_lint("-f", MINIMAL, "--set", missing)
        assert r.returncode != 0, f"helm lint passed without {missing}"
    # with the operators, only the key-encryption key's Secret is needed
    operators = str(CHART / "ci" / "operators-values.yaml")
    assert helm_lint("-f", operators).returncode == 0
    assert helm_lint("-f", operators, "--set", "services.identity.signingKeys.existingSecret=").returncode != 0


@test
def dashboards_become_labelled_configmaps():
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "inspraak"
        shutil.copytree(CHART, chart)
        (chart / "dashboards" / "overview.json").write_text('{"title": "Inspraak overview"}\n')
        docs = helm_template("-f", MINIMAL, chart=chart)
    cms = [d for d in of_kind(docs, "ConfigMap") if "dashboard" in d["metadata"]["name"]]
    shipped = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert len(cms) == len(shipped) + 1, [c["metadata"]["name"] for c in cms]
    assert all(c["metadata"]["labels"]["grafana_dashboard"] == "1" for c in cms)
    extra = [c for c in cms if "overview.json" in c["data"]]
    assert len(extra) == 1 and "Inspraak overview" in extra[0]["data"]["overview.json"]


# The metrics the services export (as Prometheus names) and the RabbitMQ
# series the bus dashboard reads for consumer lag.
EXPORTED = {
    "rpc_server_call_duration_seconds", "inspraak_bus_published_total",
    "inspraak_bus_publish_duration_seconds", "inspraak_bus_outbox_backlog",
    "inspraak_bus_outbox_oldest_age_seconds", "inspraak_bus_consumed_total",
    "inspraak_bus_retried_total", "inspraak_bus_dead_lettered_total",
    "inspraak_bus_handler_duration_seconds", "inspraak_contributions_inputs_created_total",
    "inspraak_contributions_feedback_given_total", "inspraak_contributions_inputs_overdue_total",
    "inspraak_notifications_sent_total", "inspraak_notifications_failed_total",
    "rabbitmq_queue_messages_ready", "inspraak_projects_active",
    "db_client_operation_duration_seconds", "inspraak_bus_consumer_lag",
}


@test
def dashboards_are_the_same_in_compose_and_chart_and_read_exported_metrics():
    compose = {p.name: p.read_text() for p in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")}
    chart = {p.name: p.read_text() for p in (CHART / "dashboards").glob("*.json")}
    assert compose and compose == chart, sorted(set(compose) ^ set(chart))
    titles = set()
    for name, text in compose.items():
        dash = json.loads(text)
        titles.add(dash["title"])
        assert dash["uid"] and dash["panels"], name
        for panel in dash["panels"]:
            for target in panel["targets"]:
                found = re.findall(r"\b((?:rpc|inspraak|rabbitmq|db)_[a-z_]+)", target["expr"])
                labels = {"rpc_method", "rpc_system_name", "rpc_status_code"}
                labels |= {"db_operation_name", "messaging_destination_name"}
                names = {re.sub(r"_(bucket|count)$", "", n) for n in found} - labels
                assert names and names <= EXPORTED, (name, panel["title"], names - EXPORTED)
    assert {"Inspraak — service RED", "Inspraak — event bus", "Inspraak — platform"} <= titles


def leaf_paths(value, prefix=""):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


@test
def readme_lists_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []
    for path in leaf_paths(values):
        generic = re.sub(r"^services\.(identity|projects|contributions|notifications)\.", "services.<name>.", path)
        # a value is listed under its own key or one of its parents' (resources.requests)
        n = path.count(".") + 1
        shortest = min(n, 3 if path.startswith("services.") else 2)
        candidates = {".".join(p.split(".")[:i]) for p in (path, generic) for i in range(shortest, n + 1)}
        if not any(f"`{c}`" in readme for c in candidates):
            missing.append(path)
    assert not missing, f"not in helm/inspraak/README.md: {missing}"
    for f in ("values.schema.json", "templates/NOTES.txt", "templates/_helpers.tpl"):
        assert (CHART / f).is_file(), f


def dockerfile_stages(text):
    text = re.sub(r"\\\n", " ", text)
    stages, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            current = {"base": m.group(1), "lines": []}
            stages[m.group(2) or f"#{len(stages)}"] = current
        elif current is not None:
            current["lines"].append((instr, rest.strip()))
    return stages


def stage_chain(stages, name):
    chain = []
    while name in stages:
        chain.append(stages[name])
        name = stages[name]["base"]
    return chain


@test
def dockerfile_is_multi_stage_non_root_and_per_service():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    stages = dockerfile_stages(text)
    assert len(stages) >= 3, "not multi-stage"
    build = [s for s in stages.values() if any(i == "RUN" and "cargo build" in r for i, r in s["lines"])]
    assert len(build) == 1, "the workspace must be compiled once"
    run = next(r for i, r in build[0]["lines"] if i == "RUN" and "cargo build" in r)
    assert "--mount=type=cache" in run and "--locked" in run and "--release" in run
    for svc, port in SERVICES.items():
        assert svc in stages, f"no target {svc}"
        chain = stage_chain(stages, svc)
        lines = [l for st in chain for l in st["lines"]]
        users = [r for i, r in lines if i == "USER"]
        assert users, f"{svc}: no USER"
        uid = users[0].split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{svc}: USER {users[0]} is not a numeric non-root user"
        copies = [r for i, r in lines if i == "COPY"]
        assert copies and all("--from=" in c for c in copies), f"{svc}: copies other than the binary: {copies}"
        assert all(c.split()[-1].startswith("/usr/local/bin/") for c in copies), copies
        cmd = [r for i, r in lines if i == "CMD"][0]
        assert yaml.safe_load(cmd) == ["serve", svc], cmd
        assert f"EXPOSE {port}" in [f"{i} {r}" for i, r in lines]
        runtime_base = chain[-1]["base"]
        assert re.match(r"(debian:.*slim|gcr.io/distroless/cc)", runtime_base.replace("${DEBIAN_RELEASE}", "bookworm")), runtime_base
        assert any("ca-certificates" in r for i, r in lines if i == "RUN") or "distroless" in runtime_base


@test
def compose_runs_the_whole_stack():
    deploy = ROOT / "deploy"
    compose = yaml.safe_load((deploy / "compose.yaml").read_text())
    svcs = compose["services"]
    for svc in SERVICES:
        s = svcs[svc]
        assert s["command"] == ["serve", svc], s["command"]
        assert s["build"]["target"] == svc and s["build"]["dockerfile"] == "deploy/Dockerfile"
        env = s["environment"]
        assert env["DATABASE_URL"].endswith(f"@postgres:5432/{svc}"), env["DATABASE_URL"]
        assert env["BUS_URL"].startswith("amqp://") and env["BUS_URL"].endswith("@rabbitmq:5672/%2f")
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        assert env["IDENTITY_URL"] == "http://identity:50051"
        assert s["user"].split(":")[0] != "0" and s["read_only"] is True
        # identity alone seals its signing keys, under a key of 32 bytes
        assert ("SIGNING_KEY_ENCRYPTION_KEY" in env) == (svc == "identity"), svc
    assert len(base64.b64decode(svcs["identity"]["environment"]["SIGNING_KEY_ENCRYPTION_KEY"], validate=True)) == 32
    images = {name: s.get("image", "") for name, s in svcs.items()}
    assert images["postgres"].startswith("postgres:")
    assert images["rabbitmq"] == "rabbitmq:3-management"
    assert "mailpit" in images["mailpit"]
    assert "opentelemetry-collector" in images["otel-collector"]
    assert images["prometheus"].startswith("prom/prometheus")
    assert images["grafana"].startswith("grafana/grafana")
    # PostgreSQL: an init script creating the four databases
    init = [v for v in svcs["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert init, "no init script"
    script = (deploy / init[0].split(":")[0]).read_text()
    assert "CREATE DATABASE" in script and all(s in script for s in SERVICES)
    # the collector's and Prometheus' config files, Grafana's provisioning
    for name in ("otel-collector", "prometheus", "grafana"):
        for v in svcs[name]["volumes"]:
            assert (deploy / v.split(":")[0]).exists(), v
    otel = yaml.safe_load((deploy / "otel" / "collector.yaml").read_text())
    assert "otlp" in otel["receivers"] and otel["service"]["pipelines"]["metrics"]["receivers"] == ["otlp"]
    prov = deploy / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    dash = yaml.safe_load((prov / "dashboards" / "inspraak.yaml").read_text())
    assert dash["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (deploy / "grafana" / "dashboards").is_dir()


def main():
    passed = failed = 0
    for fn in TESTS:
        try:
            fn()
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            print("    " + traceback.format_exc().strip().replace("\n", "\n    "))
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"helm-lint: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
