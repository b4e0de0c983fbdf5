//! Issue 11, item 6: the deployment files say what the product does. `compose.yaml`,
//! `deploy/*.yaml` (Kubernetes), `Dockerfile` and `.dockerignore` are parsed and checked against
//! the workspace itself: every container runs a binary some Cargo.toml declares, every
//! environment variable is a setting the loader reads (`config::ENV_NAMES`), every container's
//! settings load as the binary would load them, and the images and pods run unprivileged with
//! health checks on what the binaries serve.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crypto_market_mcp::config::{self, CommonArgs, ConfigError, ServerConfig, ENV_NAMES};
use serde::Deserialize;
use serde_norway::Value;

/// The image `Dockerfile` builds (compose tags it `crypto-market-mcp:local`, kustomize renames
/// it to your registry).
const OUR_IMAGE: &str = "crypto-market-mcp";
/// Third-party images the deployment may use.
const OTHER_IMAGES: &[&str] = &["redis"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: impl AsRef<Path>) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// What the workspace builds

/// Every binary of the workspace, from the Cargo.toml of each member: `[[bin]]` names, plus the
/// targets cargo discovers (`src/main.rs`, `src/bin/*.rs`) unless `autobins = false`.
fn workspace_bins() -> BTreeSet<String> {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    let members: Vec<String> = manifest["workspace"]["members"]
        .as_array()
        .expect("[workspace] members")
        .iter()
        .map(|m| m.as_str().expect("a member path").to_owned())
        .collect();
    let mut bins = BTreeSet::new();
    for member in members {
        let dir = root().join(&member);
        let member_manifest: toml::Table = read(dir.join("Cargo.toml"))
            .parse()
            .expect("a member's Cargo.toml is TOML");
        let package = member_manifest["package"].as_table().expect("[package]");
        for bin in member_manifest
            .get("bin")
            .and_then(|b| b.as_array())
            .into_iter()
            .flatten()
        {
            bins.insert(bin["name"].as_str().expect("[[bin]] name").to_owned());
        }
        if package.get("autobins").and_then(|a| a.as_bool()) != Some(false) {
            if dir.join("src/main.rs").is_file() {
                bins.insert(package["name"].as_str().expect("package name").to_owned());
            }
            for entry in std::fs::read_dir(dir.join("src/bin")).into_iter().flatten() {
                let path = entry.expect("a directory entry").path();
                if path.extension().is_some_and(|e| e == "rs") {
                    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                    bins.insert(stem);
                }
            }
        }
    }
    assert!(
        bins.contains("crypto-market-mcp") && bins.contains("crypto-market-worker"),
        "{bins:?}"
    );
    bins
}

fn known_env(name: &str) -> bool {
    ENV_NAMES.contains(&name)
}

/// The settings a container gets, loaded as the binary loads them (flags it does not know make
/// the test fail, so that a new flag in a manifest gets checked here too).
fn load_settings(
    command: &[String],
    env: &BTreeMap<String, String>,
) -> Result<ServerConfig, ConfigError> {
    let mut args = CommonArgs::default();
    let mut rest = command.iter().skip(1);
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().expect("a flag value");
        match flag.as_str() {
            "--http" => args.set.push(format!("server.http={}", value())),
            "--exchange" => args.exchange = Some(value()),
            "--rest-url" => args.rest_url = Some(value()),
            "--ws-url" => args.ws_url = Some(value()),
            other => panic!("tests/deployment.rs does not know the flag {other}: teach it"),
        }
    }
    config::load(&args, |name| env.get(name).cloned())
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("{addr:?} has no port"))
}

/// `registry.example.com/crypto-market-mcp:0.1.0` → `crypto-market-mcp`.
fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last)
}

// ---------------------------------------------------------------------------------------------
// YAML

/// Every document of a (multi-document) YAML file, with `<<` merge keys applied.
fn yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            let mut value = Value::deserialize(document).expect("valid YAML");
            value.apply_merge().expect("merge keys apply");
            value
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A command or entrypoint: a list, or a string split at spaces.
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().map(str_of).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Null => Vec::new(),
        other => panic!("not a command: {other:?}"),
    }
}

fn mapping_keys(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|m| m.keys().map(str_of).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

struct Stage {
    name: Option<String>,
    /// Instructions (continuation lines joined, comments dropped): (KEYWORD, rest).
    instructions: Vec<(String, String)>,
}

fn dockerfile_stages() -> Vec<Stage> {
    let text = read("Dockerfile");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .map(|i| words[i + 1].to_owned());
            stages.push(Stage {
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, rest));
        }
    }
    stages
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions
            .iter()
            .filter(move |(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
    }

    fn text(&self) -> String {
        self.instructions
            .iter()
            .map(|(k, r)| format!("{k} {r}\n"))
            .collect()
    }
}

/// What the runtime image holds: the binaries copied from the builder and the tools (files
/// copied from the repository) under /usr/local/bin, and the uid it runs as.
struct RuntimeImage {
    binaries: BTreeSet<String>,
    tools: BTreeSet<String>,
    uid: u32,
    cmd: Vec<String>,
}

fn runtime_image(bins: &BTreeSet<String>) -> RuntimeImage {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a multi-stage build");
    let runtime = stages.last().unwrap();
    let builders: Vec<&Stage> = stages[..stages.len() - 1].iter().collect();
    let mut binaries = BTreeSet::new();
    let mut tools = BTreeSet::new();
    for copy in runtime.all("COPY") {
        let mut words: Vec<&str> = copy.split_whitespace().collect();
        let from = words
            .iter()
            .find_map(|w| w.strip_prefix("--from="))
            .map(str::to_owned);
        words.retain(|w| !w.starts_with("--"));
        let (dest, sources) = words.split_last().expect("COPY SRC... DEST");
        match from {
            Some(stage_name) => {
                let builder = builders
                    .iter()
                    .find(|s| s.name.as_deref() == Some(stage_name.as_str()))
                    .unwrap_or_else(|| panic!("COPY --from={stage_name}: no such stage"));
                let built = builder.text();
                assert!(
                    built.contains("cargo build --release") && built.contains("--bins"),
                    "the builder builds the release binaries:\n{built}"
                );
                assert!(
                    dest.starts_with("/usr/local/bin"),
                    "binaries go on the PATH: {copy}"
                );
                for source in sources {
                    let name = source.rsplit('/').next().unwrap();
                    assert!(
                        bins.contains(name),
                        "the image copies {name}, which no Cargo.toml declares"
                    );
                    assert!(
                        built.contains(&format!("target/release/{name}")),
                        "the builder takes {name} from target/release"
                    );
                    binaries.insert(name.to_owned());
                }
            }
            None => {
                for source in sources {
                    assert!(
                        root().join(source).is_file(),
                        "COPY {source}: not in the repository"
                    );
                }
                if dest.starts_with("/usr/local/bin/") {
                    tools.insert(dest.rsplit('/').next().unwrap().to_owned());
                }
            }
        }
    }
    let user = runtime
        .all("USER")
        .last()
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap();
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: numeric, so runAsNonRoot can verify it"));
    assert_ne!(uid, 0, "the runtime stage does not run as root");
    let cmd = runtime
        .all("CMD")
        .chain(runtime.all("ENTRYPOINT"))
        .last()
        .map(|c| serde_json::from_str::<Vec<String>>(c).expect("CMD in exec (JSON) form"))
        .unwrap_or_default();
    RuntimeImage {
        binaries,
        tools,
        uid,
        cmd,
    }
}

#[test]
fn the_image_holds_every_binary_and_runs_as_a_user() {
    let bins = workspace_bins();
    let image = runtime_image(&bins);
    assert_eq!(
        image.binaries, bins,
        "every binary of the workspace, no other"
    );
    assert!(bins.contains(&image.cmd[0]), "CMD {:?}", image.cmd);
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(|l| l.trim().trim_matches('/').to_owned())
        .collect();
    assert!(
        ignored.iter().any(|l| l == "target"),
        ".dockerignore leaves target/ out of the build context"
    );
    assert!(!ignored.iter().any(|l| l == "Cargo.lock" || l == "src"));
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    match service.get("environment") {
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                env.insert(
                    str_of(k),
                    if v.is_null() {
                        String::new()
                    } else {
                        str_of(v)
                    },
                );
            }
        }
        Some(Value::Sequence(items)) => {
            for item in items {
                let item = str_of(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                env.insert(k.to_owned(), v.to_owned());
            }
        }
        _ => {}
    }
    env
}

/// `${VAR:?message}` and the like are the operator's: a value stands in for them.
fn interpolated(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${...}") + start;
        let name = rest[start + 2..end]
            .split([':', '-', '?', '+'])
            .next()
            .unwrap();
        assert!(
            known_env(name),
            "compose.yaml interpolates {name}, not a setting"
        );
        out.push_str("from-the-operator");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn compose_runs_redis_the_simulator_three_workers_and_a_gateway() {
    let bins = workspace_bins();
    let image = runtime_image(&bins);
    let documents = yaml_documents(&read("compose.yaml"));
    assert_eq!(documents.len(), 1);
    let services = documents[0]["services"]
        .as_mapping()
        .expect("services")
        .clone();
    let names: BTreeSet<String> = services.keys().map(str_of).collect();
    let command_of = |name: &str| -> Vec<String> {
        let service = &services[name];
        let mut command = words(service.get("entrypoint").unwrap_or(&Value::Null));
        command.extend(words(service.get("command").unwrap_or(&Value::Null)));
        command
    };

    let mut workers = 0;
    let mut gateways = 0;
    let mut checked = 0;
    let mut sentinel_workers = 0;
    for (name, service) in &services {
        let name = str_of(name);
        // Services of an optional profile (`--profile sentinel`) are checked the same way, but
        // the default deployment is counted without them.
        let profiles = words(service.get("profiles").unwrap_or(&Value::Null));
        let image_ref = str_of(&service["image"]);
        for dependency in mapping_keys(service.get("depends_on").unwrap_or(&Value::Null)) {
            assert!(
                names.contains(&dependency),
                "{name} depends on {dependency}"
            );
        }
        if image_name(&image_ref) != OUR_IMAGE {
            assert!(
                OTHER_IMAGES.contains(&image_name(&image_ref)),
                "{name}: unexpected image {image_ref}"
            );
            continue;
        }
        if profiles.is_empty() {
            checked += 1;
        }
        assert!(service.get("build").is_some(), "{name} builds the image");
        let command = command_of(&name);
        assert!(
            bins.contains(&command[0]),
            "{name} runs {:?}, not a binary of this workspace ({bins:?})",
            command[0]
        );
        let env: BTreeMap<String, String> = compose_environment(service)
            .into_iter()
            .map(|(k, v)| (k, interpolated(&v)))
            .collect();
        for key in env.keys() {
            assert!(known_env(key), "{name}: {key} is not a setting");
        }
        // Every URL names a service of this file, on a port that service serves.
        for (key, value) in &env {
            // host:port lists (REDIS_NODES) are checked with the service that uses them.
            let Some(url) = url::Url::parse(value)
                .ok()
                .filter(|_| value.contains("://"))
            else {
                continue;
            };
            let host = url.host_str().unwrap_or_default().to_owned();
            assert!(
                names.contains(&host),
                "{name}: {key}={value}: no service {host}"
            );
            let port = url.port_or_known_default();
            let target = command_of(&host);
            if let Some(i) = target.iter().position(|w| w == "--addr") {
                let addr = &target[i + 1];
                assert!(
                    addr.starts_with("0.0.0.0:"),
                    "{host} listens on {addr}: unreachable from {name}"
                );
                assert_eq!(Some(port_of(addr)), port, "{name}: {key}={value}");
            } else if image_name(&str_of(&services[host.as_str()]["image"])) == "redis" {
                assert_eq!(port, Some(6379), "{name}: {key}={value}");
            }
        }
        // The health check runs something the image holds.
        let test = words(&service["healthcheck"]["test"]);
        assert_eq!(test[0], "CMD", "{name}: exec form");
        assert!(
            image.tools.contains(&test[1]) || bins.contains(&test[1]),
            "{name}: the health check runs {}, which the image lacks",
            test[1]
        );
        match command[0].as_str() {
            "crypto-market-sim" => {
                let addr = &command[command.iter().position(|w| w == "--addr").unwrap() + 1];
                assert_eq!(test[2], port_of(addr).to_string(), "{name} probes its port");
            }
            binary => {
                let settings = load_settings(&command, &env)
                    .unwrap_or_else(|e| panic!("{name}: the settings do not load: {e}"));
                if binary == "crypto-market-worker" {
                    let replicas = service
                        .get("deploy")
                        .and_then(|d| d.get("replicas"))
                        .map_or(1, |r| r.as_u64().expect("replicas"));
                    if profiles.is_empty() {
                        workers += replicas;
                    } else {
                        assert_eq!(profiles, ["sentinel"], "{name}: profiles");
                        sentinel_workers += replicas;
                        // The sentinels it asks are a service of this file, on their port.
                        assert_eq!(settings.redis.mode, "sentinel", "{name}: REDIS_MODE");
                        for node in &settings.redis.nodes {
                            let (host, port) = node.rsplit_once(':').expect("host:port");
                            let sentinel = words(&services[host]["entrypoint"]).join(" ");
                            assert!(
                                sentinel.contains("--sentinel")
                                    && sentinel.contains(&format!("port {port}")),
                                "{name}: REDIS_NODES {node} is not a sentinel of this file"
                            );
                            assert!(
                                sentinel.contains(&format!(
                                    "sentinel monitor {} ",
                                    settings.redis.sentinel_master
                                )),
                                "{name}: the sentinel does not watch REDIS_SENTINEL_MASTER"
                            );
                        }
                    }
                    assert!(settings.cache.use_redis, "{name}: USE_REDIS_CACHE");
                    assert!(
                        settings.exchange.rest_url.is_some() && settings.exchange.ws_url.is_some(),
                        "{name}: the engine is pointed at the simulator"
                    );
                    let metrics = settings.metrics.addr.expect("METRICS_ADDR");
                    assert_eq!(
                        test[2..4],
                        [port_of(&metrics).to_string(), "/healthz".to_owned()],
                        "{name}: the health check asks /healthz on METRICS_ADDR"
                    );
                } else {
                    assert_eq!(binary, "crypto-market-mcp");
                    gateways += 1;
                    assert!(settings.pubsub.enabled, "{name}: PUBSUB_ENABLED");
                    let http = settings.server.http.expect("--http");
                    assert!(http.starts_with("0.0.0.0:"), "{name}: --http {http}");
                    assert!(
                        settings.server.auth_token.is_some(),
                        "{name}: MCP_AUTH_TOKEN"
                    );
                    assert!(
                        env["MCP_AUTH_TOKEN"] == "from-the-operator",
                        "{name}: the token comes from the operator, not the file"
                    );
                    assert_eq!(test[2], port_of(&http).to_string(), "{name}: probes /mcp");
                }
            }
        }
    }
    assert_eq!(workers, 3, "three workers");
    assert_eq!(sentinel_workers, 2, "two workers in the sentinel profile");
    assert_eq!(gateways, 1, "one MCP gateway");
    assert_eq!(
        checked, 3,
        "the simulator, the workers and the gateway: {names:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// deploy/ (Kubernetes)

fn deploy_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("deploy"))
        .expect("deploy/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

fn manifests() -> Vec<(String, Value)> {
    deploy_files()
        .into_iter()
        .flat_map(|file| {
            yaml_documents(&read(Path::new("deploy").join(&file)))
                .into_iter()
                .map(move |doc| (file.clone(), doc))
        })
        .collect()
}

fn kind(doc: &Value) -> String {
    doc.get("kind").map(str_of).unwrap_or_default()
}

fn object_name(doc: &Value) -> String {
    str_of(&doc["metadata"]["name"])
}

/// Name → its data (`data` and `stringData`) for every object of `kind`.
fn data_of(docs: &[(String, Value)], of_kind: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    docs.iter()
        .filter(|(_, doc)| kind(doc) == of_kind)
        .map(|(_, doc)| {
            let mut data = BTreeMap::new();
            for field in ["data", "stringData"] {
                if let Some(Value::Mapping(map)) = doc.get(field) {
                    for (k, v) in map {
                        data.insert(str_of(k), str_of(v));
                    }
                }
            }
            (object_name(doc), data)
        })
        .collect()
}

fn resolve_port(container: &Value, port: &Value) -> u16 {
    match port {
        Value::Number(n) => n.as_u64().expect("a port") as u16,
        named => {
            let named = str_of(named);
            container["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .find(|p| p.get("name").map(str_of).as_deref() == Some(named.as_str()))
                .map(|p| p["containerPort"].as_u64().expect("containerPort") as u16)
                .unwrap_or_else(|| panic!("no port named {named}"))
        }
    }
}

#[test]
fn kubernetes_manifests_run_five_workers_and_a_gateway_safely() {
    let bins = workspace_bins();
    let image = runtime_image(&bins);
    let docs = manifests();
    let config_maps = data_of(&docs, "ConfigMap");
    let secrets = data_of(&docs, "Secret");
    assert!(!secrets.is_empty(), "secret.example.yaml");
    for (name, data) in config_maps.iter().chain(&secrets) {
        for key in data.keys() {
            assert!(known_env(key), "{name}: {key} is not a setting");
        }
    }

    // kustomization.yaml applies every manifest but the Secret's template.
    let kustomization = docs
        .iter()
        .find(|(file, _)| file == "kustomization.yaml")
        .map(|(_, doc)| doc)
        .expect("deploy/kustomization.yaml");
    let resources: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(str_of)
        .collect();
    let expected: BTreeSet<String> = deploy_files()
        .into_iter()
        .filter(|f| f != "kustomization.yaml" && !f.contains("example"))
        .collect();
    assert_eq!(resources, expected);
    let renamed = kustomization["images"]
        .as_sequence()
        .expect("images")
        .iter()
        .map(|i| str_of(&i["name"]))
        .collect::<Vec<_>>();
    assert_eq!(renamed, [OUR_IMAGE]);

    let mut workers = None;
    let mut gateway_labels = None;
    let mut gateway_ports = BTreeMap::new();
    for (file, doc) in docs.iter().filter(|(_, d)| kind(d) == "Deployment") {
        let name = object_name(doc);
        let pod = &doc["spec"]["template"];
        let spec = &pod["spec"];
        let pod_non_root = spec["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
        if let Some(uid) = spec["securityContext"].get("runAsUser") {
            assert_eq!(
                uid.as_u64(),
                Some(image.uid as u64),
                "{name}: the image's user"
            );
        }
        for container in spec["containers"].as_sequence().expect("containers") {
            let at = format!("{file}: {name}/{}", str_of(&container["name"]));
            let image_ref = str_of(&container["image"]);
            assert_eq!(image_name(&image_ref), OUR_IMAGE, "{at}");
            let mut command = words(container.get("command").unwrap_or(&Value::Null));
            command.extend(words(container.get("args").unwrap_or(&Value::Null)));
            assert!(
                bins.contains(&command[0]),
                "{at} runs {:?}, not a binary of this workspace",
                command[0]
            );

            // Its environment, as the pod gets it (the Secret's placeholders stand in).
            let mut env = BTreeMap::new();
            for source in container
                .get("envFrom")
                .and_then(|e| e.as_sequence())
                .into_iter()
                .flatten()
            {
                let (objects, reference) = match source.get("configMapRef") {
                    Some(r) => (&config_maps, r),
                    None => (&secrets, &source["secretRef"]),
                };
                let data = objects
                    .get(&str_of(&reference["name"]))
                    .unwrap_or_else(|| panic!("{at}: envFrom {reference:?} is not in deploy/"));
                env.extend(data.clone());
            }
            for var in container
                .get("env")
                .and_then(|e| e.as_sequence())
                .into_iter()
                .flatten()
            {
                let key = str_of(&var["name"]);
                assert!(known_env(&key), "{at}: {key} is not a setting");
                if let Some(value) = var.get("value") {
                    env.insert(key, str_of(value));
                    continue;
                }
                let from = &var["valueFrom"];
                let (objects, reference) = match from.get("secretKeyRef") {
                    Some(r) => (&secrets, r),
                    None => (&config_maps, &from["configMapKeyRef"]),
                };
                let data = objects
                    .get(&str_of(&reference["name"]))
                    .unwrap_or_else(|| panic!("{at}: {key} refers to {reference:?}"));
                let value = data
                    .get(&str_of(&reference["key"]))
                    .unwrap_or_else(|| panic!("{at}: {key}: no such key in {reference:?}"));
                env.insert(key, value.clone());
            }
            let settings = load_settings(&command, &env)
                .unwrap_or_else(|e| panic!("{at}: the settings do not load: {e}"));
            let ports: BTreeSet<u16> = container["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .map(|p| p["containerPort"].as_u64().unwrap() as u16)
                .collect();

            // Probes on what the binary serves.
            for probe in ["livenessProbe", "readinessProbe"] {
                let probe = container
                    .get(probe)
                    .unwrap_or_else(|| panic!("{at}: {probe}"));
                if let Some(metrics) = &settings.metrics.addr {
                    let get = &probe["httpGet"];
                    assert_eq!(str_of(&get["path"]), "/healthz", "{at}");
                    assert_eq!(
                        resolve_port(container, &get["port"]),
                        port_of(metrics),
                        "{at}"
                    );
                } else {
                    let port = resolve_port(container, &probe["tcpSocket"]["port"]);
                    assert!(ports.contains(&port), "{at}: probes a port it serves");
                }
            }
            // Resources and privileges.
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        container["resources"][bound].get(resource).is_some(),
                        "{at}: resources.{bound}.{resource}"
                    );
                }
            }
            let security = &container["securityContext"];
            assert!(
                pod_non_root || security["runAsNonRoot"].as_bool() == Some(true),
                "{at}: runAsNonRoot"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{at}"
            );
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{at}"
            );

            match command[0].as_str() {
                "crypto-market-worker" => {
                    workers = doc["spec"]["replicas"].as_u64();
                    assert!(settings.cache.use_redis, "{at}: USE_REDIS_CACHE");
                    assert!(settings.metrics.addr.is_some(), "{at}: METRICS_ADDR");
                }
                "crypto-market-mcp" => {
                    assert!(settings.pubsub.enabled, "{at}: PUBSUB_ENABLED");
                    let http = settings.server.http.clone().expect("--http");
                    assert!(ports.contains(&port_of(&http)), "{at}: serves {http}");
                    assert!(settings.server.auth_token.is_some(), "{at}");
                    gateway_labels = Some(pod["metadata"]["labels"].clone());
                    for port in container["ports"].as_sequence().unwrap() {
                        gateway_ports.insert(
                            str_of(&port["name"]),
                            port["containerPort"].as_u64().unwrap(),
                        );
                    }
                }
                other => panic!("{at}: {other} is not deployed on Kubernetes"),
            }
            // Redis settings come from the Secret.
            for key in ["REDIS_URL", "REDIS_PASSWORD"] {
                let var = container["env"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|v| str_of(&v["name"]) == key)
                    .unwrap_or_else(|| panic!("{at}: {key}"));
                assert!(
                    var["valueFrom"].get("secretKeyRef").is_some(),
                    "{at}: {key} from a Secret"
                );
            }
            assert!(
                settings
                    .redis
                    .url
                    .as_ref()
                    .unwrap()
                    .expose()
                    .starts_with("rediss://"),
                "{at}: the example points at a managed Redis over TLS"
            );
        }
    }
    assert_eq!(workers, Some(5), "the worker Deployment runs 5 replicas");

    // The gateway's Service selects its pods and forwards to the port it serves.
    let labels = gateway_labels.expect("a gateway Deployment");
    let service = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| kind(d) == "Service")
        .expect("a Service for the gateway");
    for (key, value) in service["spec"]["selector"].as_mapping().expect("selector") {
        assert_eq!(
            labels.get(key),
            Some(value),
            "the selector matches the gateway's pods"
        );
    }
    for port in service["spec"]["ports"].as_sequence().unwrap() {
        match &port["targetPort"] {
            Value::Number(n) => assert!(gateway_ports.values().any(|p| Some(*p) == n.as_u64())),
            named => assert!(gateway_ports.contains_key(&str_of(named)), "{named:?}"),
        }
    }
}

/// Issue 20 (SPEC.md section 9): the filled-in Secret stays out of git and out of the image,
/// and the network is fenced: Redis reachable only from the pool and the gateway, the workers'
/// unauthenticated metrics port only from the `monitoring` namespace.
#[test]
fn secrets_stay_out_of_git_and_the_image_and_redis_and_metrics_are_fenced() {
    for file in [".gitignore", ".dockerignore"] {
        let patterns: Vec<String> = read(file)
            .lines()
            .map(|l| {
                l.trim()
                    .trim_start_matches("**/")
                    .trim_start_matches('/')
                    .to_owned()
            })
            .collect();
        assert!(
            patterns.iter().any(|p| p == "secret.yaml"),
            "{file} excludes the secret.yaml that deploy/secret.example.yaml says to write"
        );
    }
    assert!(read("deploy/secret.example.yaml").contains("secret.yaml"));

    let docs = manifests();
    let policies: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind(d) == "NetworkPolicy")
        .collect();
    let selecting = |name: &str, component: Option<&str>| {
        policies
            .iter()
            .copied()
            .find(|p| {
                let labels = &p["spec"]["podSelector"]["matchLabels"];
                labels.get("app.kubernetes.io/name").map(str_of).as_deref() == Some(name)
                    && labels
                        .get("app.kubernetes.io/component")
                        .map(str_of)
                        .as_deref()
                        == component
            })
            .unwrap_or_else(|| panic!("a NetworkPolicy for {name} {component:?}"))
    };
    let ingress = |policy: &Value| -> Vec<Value> {
        policy["spec"]["ingress"]
            .as_sequence()
            .expect("ingress rules")
            .clone()
    };
    let ports = |rule: &Value| -> Vec<u64> {
        rule["ports"]
            .as_sequence()
            .expect("every rule names its ports")
            .iter()
            .map(|p| p["port"].as_u64().expect("a port number"))
            .collect()
    };

    // Redis: only the worker and gateway pods, only on Redis's ports.
    let redis = selecting("redis", None);
    for rule in ingress(redis) {
        assert!(ports(&rule).iter().all(|p| [6379, 6380].contains(p)));
        for source in rule["from"].as_sequence().expect("sources") {
            assert!(source.get("namespaceSelector").is_none(), "{source:?}");
            let mut components = Vec::new();
            for requirement in source["podSelector"]["matchExpressions"]
                .as_sequence()
                .expect("pod requirements")
            {
                let values: Vec<String> = requirement["values"]
                    .as_sequence()
                    .expect("values")
                    .iter()
                    .map(str_of)
                    .collect();
                match str_of(&requirement["key"]).as_str() {
                    "app.kubernetes.io/name" => assert_eq!(values, ["crypto-market"]),
                    "app.kubernetes.io/component" => components = values,
                    other => panic!("unexpected requirement on {other}"),
                }
            }
            components.sort();
            assert_eq!(components, ["mcp-gateway", "worker"]);
        }
    }

    // Workers: nothing but the metrics port, from the monitoring namespace.
    let workers = selecting("crypto-market", Some("worker"));
    for rule in ingress(workers) {
        assert_eq!(ports(&rule), [9100]);
        let sources = rule["from"].as_sequence().expect("sources");
        assert!(!sources.is_empty());
        for source in sources {
            assert_eq!(
                str_of(&source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]),
                "monitoring"
            );
            assert!(source.get("podSelector").is_none());
        }
    }
    // The gateway: only its MCP port.
    let gateway = selecting("crypto-market", Some("mcp-gateway"));
    for rule in ingress(gateway) {
        assert_eq!(ports(&rule), [8080]);
    }
}

// ---------------------------------------------------------------------------------------------
// README.md

#[test]
fn the_readme_documents_every_setting_and_how_to_deploy() {
    let readme = read("README.md");
    for name in ENV_NAMES {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md lacks {name}"
        );
    }
    let deploy = readme
        .split("\n## ")
        .find(|section| section.starts_with("Deploy"))
        .expect("README.md has a Deploy section");
    for needed in ["docker compose up", "kubectl apply", "deploy/README.md"] {
        assert!(
            deploy.contains(needed),
            "the Deploy section says {needed:?}"
        );
    }
    let guide = read("deploy/README.md");
    for needed in [
        "rediss://",
        "secret.example.yaml",
        "kubectl apply -k deploy/",
    ] {
        assert!(guide.contains(needed), "deploy/README.md says {needed:?}");
    }
}
