//! docs/openapi.yaml against the code, for what fuzzing cannot see: the routes it describes
//! are the routes the local router (Cargo.toml) and the deployed HTTP API (template.yaml)
//! serve, no more and no fewer; its problem `code` enum is the code's own list
//! ([`ErrorCode::ALL`]); and each response lists only codes of its own status.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use twostep::http::ErrorCode;
use yaml_serde::Value;

/// A route: the method in upper case and the path template.
type Route = (String, String);

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace().join(path)).expect(path);
    yaml_serde::from_str(&text).expect(path)
}

fn spec() -> Value {
    yaml("docs/openapi.yaml")
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

/// The operations the description has.
fn described_routes(spec: &Value) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        for (key, _) in item.as_mapping().expect("a path item") {
            let key = text(key);
            if METHODS.contains(&key.as_str()) {
                routes.insert((key.to_uppercase(), text(path)));
            }
        }
    }
    routes
}

/// The routes of `[workspace.metadata.lambda.watch.router]`, as cargo itself reads them.
fn router_routes() -> BTreeSet<Route> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata: {output:?}");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let router = metadata["metadata"]["lambda"]["watch"]["router"]
        .as_object()
        .expect("a router in Cargo.toml");
    let mut routes = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().expect("a list of targets") {
            let method = target["method"].as_str().expect("a method");
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// The `HttpApi` events of template.yaml's functions: what API Gateway routes in AWS.
fn template_routes(template: &Value) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                routes.insert((
                    text(&properties["Method"]).to_uppercase(),
                    text(&properties["Path"]),
                ));
            }
        }
    }
    routes
}

#[test]
fn the_description_has_every_route_the_local_router_serves_and_no_other() {
    let described = described_routes(&spec());
    let served = router_routes();
    assert!(!served.is_empty(), "the router has routes");
    assert_eq!(
        described, served,
        "docs/openapi.yaml (left) and Cargo.toml's router (right) differ"
    );
}

#[test]
fn the_description_has_every_route_the_deployed_api_serves_and_no_other() {
    let template = yaml("template.yaml");
    let served = template_routes(&template);
    assert!(!served.is_empty(), "the template has HttpApi events");
    let described = described_routes(&spec());
    let (preflights, routes): (BTreeSet<Route>, BTreeSet<Route>) =
        described.into_iter().partition(|(m, _)| m == "OPTIONS");
    assert_eq!(
        routes, served,
        "docs/openapi.yaml (left) and template.yaml's HttpApi events (right) differ"
    );
    // In AWS the HTTP API's CORS configuration answers preflights, on routes it serves.
    let api = &template["Resources"]["HttpApi"];
    assert_eq!(api["Type"].as_str(), Some("AWS::Serverless::HttpApi"));
    assert!(
        api["Properties"].get("CorsConfiguration").is_some(),
        "the described preflights need a CorsConfiguration"
    );
    for (_, path) in &preflights {
        assert!(
            served.iter().any(|(_, p)| p == path),
            "a preflight on {path}, which the template does not serve"
        );
    }
}

#[test]
fn the_problem_codes_described_are_the_codes_the_code_answers_with() {
    let spec = spec();
    let described: BTreeSet<String> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_sequence()
        .expect("an ErrorCode enum")
        .iter()
        .map(text)
        .collect();
    let answered: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(
        described, answered,
        "docs/openapi.yaml's ErrorCode (left) and ErrorCode::ALL (right) differ"
    );
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix("#/").expect("a local $ref");
            let target = pointer
                .split('/')
                .fold(spec, |node, key| node.get(key).expect(reference));
            resolve(spec, target)
        }
        None => value,
    }
}

/// The codes a problem schema allows, when it narrows them (`const` or `enum` on `code`,
/// through `$ref` and `allOf`).
fn allowed_codes(spec: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let schema = resolve(spec, schema);
    if let Some(parts) = schema.get("allOf").and_then(Value::as_sequence) {
        return parts
            .iter()
            .filter_map(|part| allowed_codes(spec, part))
            .reduce(|a, b| a.intersection(&b).cloned().collect());
    }
    let code = resolve(spec, schema.get("properties")?.get("code")?);
    if let Some(one) = code.get("const") {
        return Some(BTreeSet::from([text(one)]));
    }
    code.get("enum")
        .and_then(Value::as_sequence)
        .map(|codes| codes.iter().map(text).collect())
}

#[test]
fn every_problem_response_lists_only_codes_of_its_own_status_and_every_code_has_a_route() {
    let spec = spec();
    let mut described = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().expect("a path item") {
            let Some(responses) = operation.get("responses").and_then(Value::as_mapping) else {
                continue;
            };
            for (status, response) in responses {
                let response = resolve(&spec, response);
                let Some(schema) = response
                    .get("content")
                    .and_then(|c| c.get("application/problem+json"))
                    .and_then(|c| c.get("schema"))
                else {
                    continue;
                };
                let at = format!("{} {} {}", text(method), text(path), text(status));
                let codes = allowed_codes(&spec, schema)
                    .unwrap_or_else(|| panic!("{at}: a problem response names its codes"));
                for code in codes {
                    let known = ErrorCode::ALL
                        .iter()
                        .find(|c| c.as_str() == code)
                        .unwrap_or_else(|| panic!("{at}: unknown code {code}"));
                    assert_eq!(
                        known.status().as_str(),
                        text(status),
                        "{at}: {code} is answered with another status"
                    );
                    described.insert(code);
                }
            }
        }
    }
    for code in ErrorCode::ALL {
        // The routers (API Gateway, cargo lambda watch) answer other methods themselves.
        if *code == ErrorCode::MethodNotAllowed {
            continue;
        }
        assert!(
            described.contains(code.as_str()),
            "{} is on no route of docs/openapi.yaml",
            code.as_str()
        );
    }
}
