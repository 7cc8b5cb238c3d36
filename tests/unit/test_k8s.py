"""deploy/k8s (kustomize: base/, overlays/production/, monitoring/) validates
offline and runs what the code expects.

The built-in kinds are checked against the Kubernetes JSON schemas that the
``kubernetes-validate`` package ships (strict: an unknown field is an error);
the operators' kinds (RabbitmqCluster, MongoDBCommunity, the topology
operator's Policy, the Prometheus Operator's ServiceMonitor and PrometheusRule)
against the small schemas below, written from the operators' CRDs for the
fields used here. The base is read file by file, as its kustomization lists
it; the overlays are rendered by ``kubectl kustomize`` (kustomize built in,
no cluster needed). Then the manifests are held to the code: every service in
``sifuwu.wiring.SERVICES`` has its Deployment, Service, HPA and PDB, on the port
of ``DEFAULT_PORTS``, and sets only variables the services read."""

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from sifuwu import __version__, wiring
from sifuwu.settings import DEFAULT_PORTS
from tooling import composefile, configdoc
from sifuwu.wiring import SERVICES

try:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError
except ImportError:  # the dev extra has it; the schemas need it
    kubernetes_validate = None

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
MONITORING = K8S / "monitoring"
CONFIG = ROOT / "sifuwu" / "config.yaml"
CLUSTER_COMPOSE = ROOT / "docker-compose.cluster.yml"
KUBECTL = shutil.which("kubectl")

# the oldest Kubernetes still commonly run, and the newest the package knows
K8S_VERSIONS = ("1.29", "latest")
# secrets the operators write (not templated in secret.example.yaml)
OPERATOR_SECRETS = {"sifuwu-rabbitmq-default-user", "sifuwu-mongo-uri"}
NOT_A_MANIFEST = {"kustomization.yaml", "secret.example.yaml",
                  "prometheus-adapter-values.yaml"}

needs_schemas = pytest.mark.skipif(
    kubernetes_validate is None,
    reason="kubernetes-validate is not installed (it is in the dev extra: "
           "pip install 'kubernetes-validate>=1.33'), so the manifests are not "
           "checked against the Kubernetes JSON schemas")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not installed: the overlays are rendered with its "
           "built-in kustomize (`kubectl kustomize`, no cluster needed)")


def documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(folder):
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def folder_documents(folder):
    """A folder of plain files as kustomize renders it (its namespace)."""
    spec = kustomization(folder)
    found = []
    for name in spec["resources"]:
        for doc in documents(folder / name):
            if doc["kind"] != "Namespace":
                doc["metadata"].setdefault("namespace", spec["namespace"])
            found.append(doc)
    return found


def base_documents():
    return folder_documents(BASE)


def kustomize(folder):
    done = subprocess.run([KUBECTL, "kustomize", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def base():
    return base_documents()


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The production overlay, with stand-ins for the env files it generates
    its secrets from (they are never committed)."""
    if KUBECTL is None:
        pytest.skip(needs_kubectl.kwargs["reason"])
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    overlay = copy / "overlays" / "production"
    for example in overlay.glob("*.env.example"):
        lines = [re.sub(r"^#\s*([A-Z_a-z]\w*)=.*", r"\1=", line)
                 for line in example.read_text().splitlines()]
        (overlay / example.name.removesuffix(".example")).write_text(
            "".join(f"{line}stand-in\n" for line in lines
                    if re.match(r"^\w+=$", line)))
    return kustomize(overlay)


def find(docs, kind, name):
    matches = [d for d in docs if d["kind"] == kind
               and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(deployment):
    (one,) = deployment["spec"]["template"]["spec"]["containers"]
    return one


def settings_read_by(name):
    """Every variable service ``name`` reads: its settings class and the
    ones nameko's config takes from the environment."""
    nameko = set(re.findall(r"\$\{(\w+):", CONFIG.read_text()))
    settings_class = configdoc.service_settings()[name]
    return nameko | {env for env, _, _ in settings_class.documented()}


def example_secret_keys():
    """{secret name: keys} of the templates: secret.example.yaml for the
    base, the *.env.example files for the overlay's generators."""
    keys = {doc["metadata"]["name"]: set(doc["stringData"])
            for doc in documents(BASE / "secret.example.yaml")}
    for generator in kustomization(PRODUCTION)["secretGenerator"]:
        names = set()
        for env in generator["envs"]:
            text = (PRODUCTION / f"{env}.example").read_text()
            names |= set(re.findall(r"^#?\s*(\w+)=", text, re.M))
        assert names == keys[generator["name"]], generator["name"]
    return keys


def environment_of(deployment, docs, secret_keys):
    """Every variable a Deployment sets: env, and the keys of the ConfigMaps
    and Secrets in envFrom."""
    one = container(deployment)
    names = {item["name"] for item in one.get("env", [])}
    for source in one.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(find(docs, "ConfigMap",
                              source["configMapRef"]["name"])["data"])
        else:
            secret = re.sub(r"-[a-z0-9]{10}$", "",
                            source["secretRef"]["name"])
            names |= secret_keys[secret]
    return names


# -- the files ---------------------------------------------------------------

@pytest.mark.parametrize("folder", [BASE, PRODUCTION, MONITORING],
                         ids=["base", "production", "monitoring"])
def test_each_kustomization_lists_every_manifest_of_its_folder(folder):
    listed = {Path(name).name for name in kustomization(folder)["resources"]
              if not name.startswith("..")}
    listed |= {patch["path"] for patch in kustomization(folder).get(
        "patches", [])}
    present = {path.name for path in folder.glob("*.yaml")} - NOT_A_MANIFEST
    assert listed == present
    # the template of the secrets is never applied
    assert "secret.example.yaml" not in listed


def test_no_secret_value_is_committed():
    for doc in documents(BASE / "secret.example.yaml"):
        assert doc["kind"] == "Secret"
        assert set(doc["stringData"].values()) == {""}, doc["metadata"]["name"]
    for example in PRODUCTION.glob("*.env.example"):
        for line in example.read_text().splitlines():
            if re.match(r"^\w+=", line):
                assert line.endswith("="), (example.name, line)
    assert "*.env" in (PRODUCTION / ".gitignore").read_text().splitlines()
    tracked = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert not [path for path in tracked if path.endswith(".env")]
    for doc in base_documents():
        assert doc["kind"] != "Secret", "secrets come from the overlay"
        if doc["kind"] == "ConfigMap":
            assert not {"AMQP_URI", "MONGO_URI", "SIFUWU_SECRET",
                        "SIFUWU_INGEST_TOKENS"} & set(
                doc["data"]), doc["metadata"]["name"]


# -- the schemas -------------------------------------------------------------

def _object(required=(), **properties):
    return {"type": "object", "required": list(required),
            "properties": properties, "additionalProperties": False}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_ANY_OBJECT = {"type": "object"}
_QUANTITY = {"type": ["string", "integer"]}
_RESOURCES = _object(limits={"type": "object", "additionalProperties": _QUANTITY},
                     requests={"type": "object",
                               "additionalProperties": _QUANTITY})
_METADATA = {"type": "object", "required": ["name"],
             "properties": {"name": _STRING, "namespace": _STRING,
                            "labels": {"type": "object"},
                            "annotations": {"type": "object"}}}
_SELECTOR = {"type": "object"}  # a metav1.LabelSelector


def _custom(api_version, kind, spec):
    return _object(["apiVersion", "kind", "metadata", "spec"],
                   apiVersion={"const": api_version}, kind={"const": kind},
                   metadata=_METADATA, spec=spec)


# The fields used here, with the types and limits of the operators' CRDs:
# rabbitmq/cluster-operator (rabbitmq.com_rabbitmqclusters.yaml),
# rabbitmq/messaging-topology-operator (rabbitmq.com_policies.yaml),
# mongodb/mongodb-kubernetes (mongodbcommunity.mongodb.com_mongodbcommunity.yaml),
# prometheus-operator (servicemonitors, prometheusrules). additionalProperties
# is false where the API server would silently prune an unknown field.
CUSTOM_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): _custom(
        "rabbitmq.com/v1beta1", "RabbitmqCluster", _object(
            replicas={"type": "integer", "minimum": 0},
            image=_STRING,
            resources=_RESOURCES,
            persistence=_object(storage=_QUANTITY, storageClassName=_STRING),
            rabbitmq=_object(additionalConfig=_STRING,
                             advancedConfig=_STRING, envConfig=_STRING,
                             additionalPlugins={"type": "array",
                                                "items": _STRING}),
            affinity=_ANY_OBJECT, tolerations={"type": "array"},
            override=_ANY_OBJECT, service=_ANY_OBJECT, tls=_ANY_OBJECT,
            terminationGracePeriodSeconds={"type": "integer", "minimum": 0})),
    ("rabbitmq.com/v1beta1", "Policy"): _custom(
        "rabbitmq.com/v1beta1", "Policy", _object(
            ["definition", "name", "pattern", "rabbitmqClusterReference"],
            name=_STRING, pattern=_STRING, vhost=_STRING, priority=_INT,
            applyTo={"enum": ["queues", "classic_queues", "quorum_queues",
                              "streams", "exchanges", "all"]},
            definition=_ANY_OBJECT,
            rabbitmqClusterReference=_object(["name"], name=_STRING,
                                             namespace=_STRING))),
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): _custom(
        "mongodbcommunity.mongodb.com/v1", "MongoDBCommunity", _object(
            ["security", "type", "users"],
            members=_INT, type={"enum": ["ReplicaSet"]}, version=_STRING,
            security=_object(authentication=_object(
                ["modes"], modes={"type": "array", "items": {
                    "enum": ["SCRAM", "SCRAM-SHA-256", "SCRAM-SHA-1",
                             "X509"]}})),
            users={"type": "array", "items": _object(
                ["name", "roles", "scramCredentialsSecretName"],
                name=_STRING, db=_STRING,
                passwordSecretRef=_object(["name"], name=_STRING, key=_STRING),
                roles={"type": "array", "items": _object(
                    ["db", "name"], db=_STRING, name=_STRING)},
                scramCredentialsSecretName={
                    "type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                connectionStringSecretName=_STRING,
                additionalConnectionStringConfig=_ANY_OBJECT)},
            additionalConnectionStringConfig=_ANY_OBJECT,
            additionalMongodConfig=_ANY_OBJECT,
            statefulSet=_object(["spec"], spec=_ANY_OBJECT))),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _custom(
        "monitoring.coreos.com/v1", "ServiceMonitor", _object(
            ["selector"], selector=_SELECTOR,
            endpoints={"type": "array", "items": _object(
                port=_STRING, path=_STRING, interval=_STRING,
                authorization=_object(
                    ["credentials"], type={"enum": ["Bearer"]},
                    credentials=_object(["name", "key"], name=_STRING,
                                        key=_STRING)))})),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _custom(
        "monitoring.coreos.com/v1", "PrometheusRule", _object(
            groups={"type": "array", "items": _object(
                ["name"], name=_STRING, interval=_STRING,
                rules={"type": "array", "items": {
                    "type": "object", "required": ["expr"],
                    "oneOf": [{"required": ["record"]},
                              {"required": ["alert"]}],
                    "properties": {"record": _STRING, "alert": _STRING,
                                   "expr": _STRING, "for": _STRING,
                                   "labels": _ANY_OBJECT,
                                   "annotations": _ANY_OBJECT},
                    "additionalProperties": False}})})),
}


def schema_errors(doc, version):
    """The schema errors of one manifest (built-in or custom kind)."""
    key = (doc["apiVersion"], doc["kind"])
    if key in CUSTOM_SCHEMAS:
        return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in
                jsonschema.Draft7Validator(CUSTOM_SCHEMAS[key]).iter_errors(doc)]
    if version == "latest":
        version = kubernetes_validate.utils.latest_version()
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except SchemaNotFoundError as error:
        return [error.message]
    return []


def assert_valid(docs, version, kinds):
    checked = set()
    for where, doc in docs:
        label = f"{where}: {doc['kind']}/{doc['metadata']['name']}"
        assert schema_errors(doc, version) == [], label
        checked.add(doc["kind"])
    assert not set(kinds) - checked, f"none checked: {set(kinds) - checked}"


@needs_schemas
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_base_and_monitoring_manifests_validate(version):
    docs = [("base", doc) for doc in base_documents()]
    docs += [("secret.example", doc)
             for doc in documents(BASE / "secret.example.yaml")]
    docs += [("monitoring", doc) for doc in folder_documents(MONITORING)]
    assert_valid(docs, version, [
        "Namespace", "Deployment", "Service", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "ConfigMap", "Secret", "RabbitmqCluster",
        "MongoDBCommunity", "Policy", "ServiceMonitor", "PrometheusRule"])


@needs_schemas
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_rendered_production_overlay_validates(production, version):
    assert_valid([("production", doc) for doc in production], version, [
        "Deployment", "Secret", "Ingress", "RabbitmqCluster",
        "MongoDBCommunity"])


@needs_schemas
def test_the_schemas_refuse_a_broken_manifest(base):
    deployment = yaml.safe_load(yaml.safe_dump(find(base, "Deployment",
                                                    "notify")))
    container(deployment)["readinesProbe"] = container(deployment).pop(
        "readinessProbe")
    assert schema_errors(deployment, "1.29")
    hpa = yaml.safe_load(yaml.safe_dump(find(base, "HorizontalPodAutoscaler",
                                             "notify")))
    hpa["spec"]["minReplicas"] = "two"
    assert schema_errors(hpa, "latest")
    rabbit = yaml.safe_load(yaml.safe_dump(find(base, "RabbitmqCluster",
                                                "sifuwu-rabbitmq")))
    rabbit["spec"]["replica"] = rabbit["spec"].pop("replicas")
    assert schema_errors(rabbit, "latest")
    mongo = yaml.safe_load(yaml.safe_dump(find(base, "MongoDBCommunity",
                                               "sifuwu-mongo")))
    del mongo["spec"]["users"]
    assert schema_errors(mongo, "latest")
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget",
               "metadata": {"name": "x"}}
    assert schema_errors(unknown, "latest")


@needs_kubectl
@pytest.mark.parametrize("folder", [BASE, MONITORING], ids=["base", "monitoring"])
def test_kustomize_renders_the_plain_folders_as_their_files_say(folder):
    def key(doc):
        return doc["kind"], doc["metadata"]["name"]
    assert sorted(map(key, kustomize(folder))) == sorted(
        map(key, folder_documents(folder)))


# -- the services ------------------------------------------------------------

def test_every_service_has_its_deployment_service_hpa_and_pdb(base):
    on_disk = {path.parent.name for path in (ROOT / "services").glob(
        "*/service.py")}
    # a new service (identity, port 8005) needs its manifests here too
    assert on_disk <= set(SERVICES) | {"identity"} and set(SERVICES) <= on_disk
    for name in sorted(on_disk):
        deployment = find(base, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert "replicas" not in deployment["spec"], "the HPA owns the count"
        service = find(base, "Service", name)
        assert service["spec"]["selector"] == selector
        (port,) = service["spec"]["ports"]
        assert port["port"] == DEFAULT_PORTS[name]
        assert port["targetPort"] == "http"
        hpa = find(base, "HorizontalPodAutoscaler", name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2
        pdb = find(base, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == selector
        assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def test_deployments_run_the_image_and_probe_health_on_the_port(base):
    for name in SERVICES:
        one = container(find(base, "Deployment", name))
        assert one["image"] == f"sifuwu:{__version__}"
        assert one["command"] == ["sifuwu", "serve", name]
        ports = {port["name"]: port["containerPort"] for port in one["ports"]}
        assert ports == {"http": DEFAULT_PORTS[name]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            check = one[probe]["httpGet"]
            # liveness asks only whether the process answers
            assert check["path"] == ("/health/live" if probe == "livenessProbe"
                                     else "/health"), (name, probe)
            assert ports.get(check["port"], check["port"]) == DEFAULT_PORTS[
                name], (name, probe)
        # /health checks the broker (2 s) and the store (3 s)
        assert one["readinessProbe"]["timeoutSeconds"] >= 5
        # a hung process: liveness waits minutes, not seconds
        liveness = one["livenessProbe"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 120


def test_deployments_run_unprivileged_with_limits(base):
    for name in SERVICES:
        pod = find(base, "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's
        assert pod["automountServiceAccountToken"] is False
        # the "restricted" Pod Security Standard
        assert pod["securityContext"]["seccompProfile"] == {
            "type": "RuntimeDefault"}
        one = container(find(base, "Deployment", name))
        context = one["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {mount["mountPath"] for mount in one["volumeMounts"]}
        assert "/tmp" in mounts
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(one["resources"][part]), name


def test_the_image_user_matches_the_dockerfile():
    assert re.search(r"^USER 10001:10001$", (ROOT / "Dockerfile").read_text(),
                     re.M)


def test_every_variable_set_is_one_the_service_reads(base):
    secret_keys = example_secret_keys()
    for name in SERVICES:
        names = environment_of(find(base, "Deployment", name), base,
                               secret_keys)
        assert {"AMQP_URI", "MONGO_URI", "SIFUWU_SECRET", "SIFUWU_INGEST_TOKENS",
                "SIFUWU_IDENTITY_URL", "SIFUWU_FEEDBACK_BASE_URL",
                "SIFUWU_CONTACT_KEYS"} <= names
        assert names <= settings_read_by(name), names - settings_read_by(name)


def test_every_referenced_config_and_secret_exists(base):
    secret_keys = example_secret_keys()
    for name in SERVICES:
        one = container(find(base, "Deployment", name))
        for source in one["envFrom"]:
            if "configMapRef" in source:
                find(base, "ConfigMap", source["configMapRef"]["name"])
            else:
                assert source["secretRef"]["name"] in secret_keys
        refs = {item["name"]: item["valueFrom"]["secretKeyRef"]
                for item in one["env"]}
        assert refs["AMQP_URI"] == {
            "name": find(base, "RabbitmqCluster", "sifuwu-rabbitmq")[
                "metadata"]["name"] + "-default-user",
            "key": "connection_string"}
        (user,) = find(base, "MongoDBCommunity", "sifuwu-mongo")["spec"]["users"]
        assert refs["MONGO_URI"] == {"name": user["connectionStringSecretName"],
                                     "key": "connectionString.standard"}
        assert {ref["name"] for ref in refs.values()} <= OPERATOR_SECRETS


# -- autoscaling on queue depth ----------------------------------------------

QUEUE_SCALED = {"notify", "activity"}


def external_metric(hpa):
    found = [metric["external"] for metric in hpa["spec"]["metrics"]
             if metric["type"] == "External"]
    return found[0] if found else None


def test_notify_and_activity_scale_on_queue_depth_the_others_on_cpu(base):
    for name in SERVICES:
        hpa = find(base, "HorizontalPodAutoscaler", name)
        kinds = {metric["type"] for metric in hpa["spec"]["metrics"]}
        assert "Resource" in kinds, name
        external = external_metric(hpa)
        if name in QUEUE_SCALED:
            assert external["metric"] == {
                "name": "sifuwu_queue_messages_ready",
                "selector": {"matchLabels": {"consumer": name}}}
            assert external["target"]["type"] == "AverageValue"
        else:
            assert external is None, name


def queue_rule():
    (rules,) = documents(MONITORING / "rules.yaml")
    (record,) = [rule for group in rules["spec"]["groups"]
                 for rule in group["rules"] if "record" in rule]
    return record


def test_the_recording_rule_finds_each_services_queues():
    """The rule's queue filter and its label_replace, applied the way
    Prometheus does (both anchored), to the queues the code declares."""
    record = queue_rule()
    assert record["record"] == "sifuwu:queue_messages_ready:sum"
    expr = record["expr"]
    assert "rabbitmq_queue_messages_ready{" in expr
    (queues,) = re.findall(r'queue=~"([^"]+)"', expr)
    (pattern,) = re.findall(r'"consumer", "\$1", "queue", "([^"]+)"', expr)

    def consumer(queue):
        if not re.fullmatch(queues, queue):
            return None
        match = re.fullmatch(pattern, queue)
        return match and match.group(1)

    for sub in wiring.SUBSCRIPTIONS:
        assert consumer(wiring.subscription_queue_name(*sub)) == sub[2]
    assert consumer(wiring.INGEST_QUEUE) == "activity"
    for dead in (wiring.DEAD_LETTER_QUEUE, wiring.INGEST_REJECTED_QUEUE):
        assert consumer(dead) is None
    for name in QUEUE_SCALED:
        assert any(consumer(q) == name for q in
                   [wiring.INGEST_QUEUE] + [wiring.subscription_queue_name(*s)
                                            for s in wiring.SUBSCRIPTIONS])


def test_the_adapter_serves_the_metric_the_hpas_name(base):
    values = yaml.safe_load((MONITORING / "prometheus-adapter-values.yaml")
                            .read_text())
    (rule,) = values["rules"]["external"]
    assert rule["seriesQuery"].startswith(queue_rule()["record"] + "{")
    assert re.fullmatch(rule["name"]["matches"], queue_rule()["record"])
    for name in QUEUE_SCALED:
        hpa = find(base, "HorizontalPodAutoscaler", name)
        assert external_metric(hpa)["metric"]["name"] == rule["name"]["as"]
    # per-queue series exist only with per-object metrics on
    rabbit = find(base, "RabbitmqCluster", "sifuwu-rabbitmq")["spec"]
    assert "prometheus.return_per_object_metrics = true" in rabbit["rabbitmq"][
        "additionalConfig"]
    assert "rabbitmq_prometheus" in rabbit["rabbitmq"]["additionalPlugins"]


# -- the broker and the store ------------------------------------------------

def test_rabbitmq_is_a_three_node_quorum_cluster_like_the_compose_one(base):
    spec = find(base, "RabbitmqCluster", "sifuwu-rabbitmq")["spec"]
    assert spec["replicas"] == 3
    compose = composefile.load(CLUSTER_COMPOSE)
    assert spec["image"] == compose["services"]["rabbitmq-1"]["image"]
    assert "default_queue_type = quorum" in spec["rabbitmq"]["additionalConfig"]
    # the policies of the cluster compose file's rabbitmq-init job, the same
    script = compose["services"]["rabbitmq-init"]["command"][0]
    for name in ("sifuwu-quorum", "sifuwu-dead-letters"):
        pattern, definition = re.search(
            name + r" '([^']+)'\s+'([^']+)'", script).groups()
        policy = find(base, "Policy", name)["spec"]
        assert policy["name"] == name
        assert policy["pattern"] == pattern.replace("$$", "$")
        assert policy["definition"] == yaml.safe_load(definition)
        assert policy["applyTo"] == "quorum_queues"
        assert policy["rabbitmqClusterReference"] == {"name": "sifuwu-rabbitmq"}
    dead = find(base, "Policy", "sifuwu-dead-letters")["spec"]
    for queue in (wiring.DEAD_LETTER_QUEUE, wiring.INGEST_REJECTED_QUEUE):
        assert re.match(dead["pattern"], queue)
    assert not re.match(find(base, "Policy", "sifuwu-quorum")["spec"][
        "pattern"], wiring.DEAD_LETTER_QUEUE)


def test_mongodb_is_a_three_member_replica_set_with_majority_writes(base):
    spec = find(base, "MongoDBCommunity", "sifuwu-mongo")["spec"]
    assert (spec["members"], spec["type"]) == (3, "ReplicaSet")
    compose = composefile.load(CLUSTER_COMPOSE)
    major = compose["services"]["mongo-1"]["image"].split(":")[1]
    assert spec["version"].startswith(major + ".")
    assert "SCRAM" in spec["security"]["authentication"]["modes"]
    (user,) = spec["users"]
    assert user["db"] == "admin"
    # the connection string the services get: retried, majority-acknowledged
    assert user["additionalConnectionStringConfig"] == {
        "retryWrites": "true", "w": "majority"}
    secrets = {doc["metadata"]["name"]: doc for doc in
               documents(BASE / "secret.example.yaml")}
    assert "password" in secrets[user["passwordSecretRef"]["name"]][
        "stringData"]
    prefix = find(base, "ConfigMap", "sifuwu-config")["data"][
        "SIFUWU_DB_PREFIX"]
    # readWrite on each service's database only
    assert sorted((role["name"], role["db"]) for role in user["roles"]) == \
        sorted(("readWrite", prefix + name) for name in SERVICES)


# -- the production overlay --------------------------------------------------

def test_production_uses_the_pushed_image_and_generated_secrets(production):
    generated = {doc["metadata"]["name"] for doc in production
                 if doc["kind"] == "Secret"}
    for name in SERVICES:
        one = container(find(production, "Deployment", name))
        image, tag = one["image"].rsplit(":", 1)
        assert image.endswith("/sifuwu") and tag == __version__
        for source in one["envFrom"]:
            if "secretRef" in source:
                assert source["secretRef"]["name"] in generated, name
        assert one["securityContext"]["readOnlyRootFilesystem"] is True
    (user,) = find(production, "MongoDBCommunity", "sifuwu-mongo")["spec"][
        "users"]
    # the operator reads the password by name: no hash suffix there
    assert user["passwordSecretRef"]["name"] in generated


def test_the_ingress_serves_only_feedbacks_public_pages_at_its_base_url(
        production):
    base_url = find(production, "ConfigMap", "sifuwu-config")["data"][
        "SIFUWU_FEEDBACK_BASE_URL"]
    address = urllib.parse.urlsplit(base_url)
    assert address.scheme == "https" and not address.path.strip("/")
    ingress = find(production, "Ingress", "feedback-public")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == address.hostname
    assert address.hostname in ingress["spec"]["tls"][0]["hosts"]
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert paths == {"/f/", "/publicity"}
    feedback_port = find(production, "Service", "feedback")["spec"]["ports"][0]
    for path in rule["http"]["paths"]:
        assert path["backend"]["service"] == {
            "name": "feedback", "port": {"name": feedback_port["name"]}}
    # those are the routes feedback serves without a token
    routes = set()
    for source in (ROOT / "services" / "feedback").rglob("*.py"):
        routes |= set(re.findall(r'@http\("\w+", "([^"]+)"',
                                 source.read_text()))
    for path in paths:
        assert any(route.startswith(path) for route in routes), path
    assert not any(path.startswith("/api") for path in paths)


# -- network policies ------------------------------------------------------------

def policy_ports(policy):
    return {port["port"] for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])}


def test_the_namespace_is_closed_by_default_and_each_path_is_opened(base):
    deny = find(base, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    service_ports = set(DEFAULT_PORTS[name] for name in SERVICES)
    # the services reach each other (identity's JWKS) on every HTTP port
    assert policy_ports(find(base, "NetworkPolicy",
                             "services-from-services")) == service_ports
    # Prometheus scrapes them; the Ingress controller reaches feedback only
    assert service_ports <= policy_ports(find(base, "NetworkPolicy",
                                              "metrics-from-monitoring"))
    public = find(base, "NetworkPolicy", "feedback-from-ingress")
    assert public["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "feedback"}
    assert policy_ports(public) == {DEFAULT_PORTS["feedback"]}
    # the broker and the store: AMQP and 27017 from the services
    rabbit = find(base, "NetworkPolicy", "rabbitmq-from-services")
    assert rabbit["spec"]["podSelector"]["matchLabels"][
        "app.kubernetes.io/name"] == find(base, "RabbitmqCluster",
                                          "sifuwu-rabbitmq")["metadata"]["name"]
    assert 5672 in policy_ports(rabbit)
    assert policy_ports(find(base, "NetworkPolicy",
                             "mongodb-from-services")) == {27017}


def test_every_service_pod_carries_the_labels_the_policies_select(base):
    for name in SERVICES:
        labels = find(base, "Deployment", name)["spec"]["template"][
            "metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "sifuwu"
        assert labels["app.kubernetes.io/component"] == "service"
