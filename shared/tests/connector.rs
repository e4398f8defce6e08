//! connectors/power-automate/ against docs/openapi.yaml and the rules Power Automate applies
//! when a custom connector is imported: the swagger's operations are routes the description
//! has, with fields it has and answers of its shape; and the swagger keeps the platform's
//! conventions (OpenAPI 2.0, a bare host, PascalCase operation ids, summaries and
//! descriptions of the required form, a title on every parameter and property, codes as
//! text, extensions only where they are allowed, the API key in `Authorization`). The
//! swagger's schema validity is checked by `openapi-spec-validator` in scripts/fuzz.sh, and
//! each operation is called against the local stack by tests/connector.rs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use twostep::http::connector::{CHECK_OUTCOMES, SEND_OUTCOMES};

fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace().join(path)).expect(path);
    serde_json::from_str(&text).expect(path)
}

fn swagger() -> Value {
    json("connectors/power-automate/apiDefinition.swagger.json")
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(workspace().join("docs/openapi.yaml")).expect("openapi");
    yaml_serde::from_str(&text).expect("openapi.yaml")
}

/// Follows a local `$ref` (`#/a/b`) in `doc`, repeatedly.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(target) = value.get("$ref").and_then(Value::as_str) {
        let pointer = target.strip_prefix('#').expect("a local $ref");
        value = doc.pointer(pointer).unwrap_or_else(|| panic!("{target}"));
    }
    value
}

/// The property names of an OpenAPI 3.1 schema, through `$ref` and `allOf`.
fn openapi_properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut names: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(openapi_properties(doc, part));
    }
    names
}

/// Each operation of the swagger: (method, path, operation).
fn operations(swagger: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in swagger["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if !method.starts_with("x-") && method != "parameters" {
                found.push((method.clone(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

fn ends_alphanumeric(text: &str) -> bool {
    text.chars().last().is_some_and(char::is_alphanumeric)
}

#[test]
fn the_connector_is_openapi_2_with_the_platforms_conventions_at_the_top() {
    let swagger = swagger();
    assert_eq!(
        swagger["swagger"], "2.0",
        "Power Automate imports OpenAPI 2.0 only"
    );
    let title = swagger["info"]["title"].as_str().expect("a title");
    assert!(
        title.len() <= 30 && ends_alphanumeric(title),
        "title {title:?}"
    );
    for banned in ["API", "Connector", "Power"] {
        assert!(!title.contains(banned), "title {title:?} names {banned}");
    }
    let description = swagger["info"]["description"]
        .as_str()
        .expect("a description");
    assert!(
        (30..=500).contains(&description.len()),
        "description of {} characters",
        description.len()
    );
    let host = swagger["host"].as_str().expect("a host");
    assert!(
        !host.is_empty()
            && !host.contains(['/', '{', '}', ' ', '\\'])
            && host.matches(':').count() <= 1,
        "host {host:?} must be a bare host name"
    );
    assert_eq!(swagger["schemes"], serde_json::json!(["https"]));
}

#[test]
fn each_action_has_a_pascal_case_id_a_summary_a_description_and_a_typed_success() {
    let swagger = swagger();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&swagger) {
        let at = format!("{} {path}", method.to_uppercase());
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(
            id.starts_with(|c: char| c.is_ascii_uppercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{at}: operationId {id:?} is not PascalCase"
        );
        assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
        let summary = operation["summary"].as_str().expect("a summary");
        assert!(
            (1..=80).contains(&summary.len())
                && !summary.contains('/')
                && ends_alphanumeric(summary),
            "{at}: summary {summary:?}"
        );
        let description = operation["description"].as_str().expect("a description");
        assert!(
            description.ends_with('.') && description != summary,
            "{at}: description {description:?}"
        );
        let success = &operation["responses"]["200"];
        assert!(
            success["schema"].is_object(),
            "{at}: a 200 with a schema, so that a flow gets its values"
        );
    }
    assert!(!ids.is_empty());
}

#[test]
fn every_parameter_and_property_has_a_title_and_a_hint_and_codes_are_text() {
    let swagger = swagger();
    for (method, path, operation) in operations(&swagger) {
        for parameter in operation["parameters"].as_array().expect("parameters") {
            let name = parameter["name"].as_str().expect("a name");
            assert!(
                !name.eq_ignore_ascii_case("authorization"),
                "{method} {path}: the key comes from the connection, not a parameter"
            );
            for key in ["x-ms-summary", "description"] {
                assert!(parameter[key].is_string(), "{method} {path} {name}: {key}");
            }
        }
    }
    for (name, definition) in swagger["definitions"].as_object().expect("definitions") {
        for (property, schema) in definition["properties"].as_object().expect("properties") {
            for key in ["x-ms-summary", "description"] {
                assert!(schema[key].is_string(), "{name}.{property}: {key}");
            }
            if property.contains("code") && property != "code_length" || property.ends_with("_id") {
                assert_eq!(
                    schema["type"], "string",
                    "{name}.{property}: text, so that leading zeros stay"
                );
            }
        }
    }
}

/// Where Power Automate accepts which `x-ms-` extensions (the rest it refuses on import).
#[test]
fn extensions_are_only_where_the_platform_accepts_them() {
    const PROPERTY: &[&str] = &[
        "x-ms-summary",
        "x-ms-visibility",
        "x-ms-enum",
        "x-ms-test-value",
    ];
    fn check(value: &Value, allowed: &[&str], at: &str) {
        for key in value.as_object().into_iter().flat_map(|o| o.keys()) {
            if key.starts_with("x-ms-") {
                assert!(
                    allowed.contains(&key.as_str()),
                    "{at}: {key} is not allowed here"
                );
            }
        }
    }
    let swagger = swagger();
    check(
        &swagger,
        &["x-ms-capabilities", "x-ms-connector-metadata", "x-ms-docs"],
        "root",
    );
    check(&swagger["info"], &[], "info");
    for (method, path, operation) in operations(&swagger) {
        let at = format!("{method} {path}");
        check(
            &operation,
            &["x-ms-visibility", "x-ms-summary", "x-ms-no-generic-test"],
            &at,
        );
        for parameter in operation["parameters"].as_array().expect("parameters") {
            check(parameter, PROPERTY, &at);
        }
        for (status, response) in operation["responses"].as_object().expect("responses") {
            check(response, &["x-ms-summary"], &format!("{at} {status}"));
        }
    }
    for (name, definition) in swagger["definitions"].as_object().expect("definitions") {
        check(definition, PROPERTY, name);
        for (property, schema) in definition["properties"].as_object().expect("properties") {
            check(schema, PROPERTY, &format!("{name}.{property}"));
            if let Some(visibility) = schema.get("x-ms-visibility") {
                let visibility = visibility.as_str().expect("text");
                assert!(
                    ["important", "advanced", "internal"].contains(&visibility),
                    "{name}.{property}: x-ms-visibility {visibility}"
                );
            }
        }
    }
}

#[test]
fn each_action_is_a_described_route_with_its_fields_and_answers() {
    let (swagger, openapi) = (swagger(), openapi());
    for (method, path, operation) in operations(&swagger) {
        let at = format!("{} {path}", method.to_uppercase());
        let described = &openapi["paths"][&path][&method];
        assert!(described.is_object(), "{at} is not in docs/openapi.yaml");
        // The fields the action sends are fields the route reads.
        let body = operation["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["in"] == "body")
            .expect("a body");
        let sent: BTreeSet<String> = resolve(&swagger, &body["schema"])["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        let read = openapi_properties(
            &openapi,
            &described["requestBody"]["content"]["application/json"]["schema"],
        );
        assert!(
            sent.is_subset(&read),
            "{at}: fields not in docs/openapi.yaml: {:?}",
            sent.difference(&read).collect::<Vec<_>>()
        );
        // Its headers are headers the route reads.
        for header in operation["parameters"].as_array().into_iter().flatten() {
            if header["in"] == "header" {
                let name = header["name"].as_str().expect("a name");
                let reads = described["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| resolve(&openapi, p)["name"].as_str() == Some(name));
                assert!(reads, "{at}: header {name} is not in docs/openapi.yaml");
            }
        }
        // Its answer has the members, and the outcomes, of the route's.
        let answer = resolve(&swagger, &operation["responses"]["200"]["schema"]);
        let described_answer = resolve(
            &openapi,
            &described["responses"]["200"]["content"]["application/json"]["schema"],
        );
        let members: BTreeSet<String> = answer["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        let described_members = openapi_properties(&openapi, described_answer);
        assert_eq!(members, described_members, "{at}: the 200's members");
        assert_eq!(
            answer["properties"]["outcome"]["enum"],
            described_answer["properties"]["outcome"]["enum"],
            "{at}: the outcomes"
        );
        for status in operation["responses"]
            .as_object()
            .expect("responses")
            .keys()
        {
            assert!(
                described["responses"].get(status).is_some(),
                "{at}: a {status} that docs/openapi.yaml does not list"
            );
        }
    }
}

#[test]
fn the_connection_asks_for_the_key_that_the_actions_send() {
    let (swagger, properties) = (
        swagger(),
        json("connectors/power-automate/apiProperties.json"),
    );
    let schemes = swagger["securityDefinitions"]
        .as_object()
        .expect("security");
    assert_eq!(schemes.len(), 1);
    let (name, scheme) = schemes.iter().next().expect("one scheme");
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (
            &Value::from("apiKey"),
            &Value::from("header"),
            &Value::from("Authorization")
        )
    );
    assert_eq!(swagger["security"][0][name], serde_json::json!([]));
    let properties = &properties["properties"];
    let parameter = &properties["connectionParameters"][name];
    assert_eq!(parameter["type"], "securestring", "the key is a secret");
    assert!(parameter["uiDefinition"]["displayName"].is_string());
    let colour = properties["iconBrandColor"]
        .as_str()
        .expect("a brand colour");
    assert!(
        colour.len() == 7
            && colour.starts_with('#')
            && colour[1..].chars().all(|c| c.is_ascii_hexdigit()),
        "{colour}"
    );
    for key in ["publisher", "stackOwner"] {
        assert!(properties[key].is_string(), "{key}");
    }
}

#[test]
fn the_outcomes_described_are_the_codes_the_connector_answers_200_with() {
    let openapi = openapi();
    for (schema, success, codes) in [
        ("ConnectorSent", "sent", &SEND_OUTCOMES[..]),
        ("ConnectorChecked", "approved", &CHECK_OUTCOMES[..]),
    ] {
        let described: BTreeSet<&str> =
            openapi["components"]["schemas"][schema]["properties"]["outcome"]["enum"]
                .as_array()
                .expect("an outcome enum")
                .iter()
                .filter_map(Value::as_str)
                .collect();
        let answered: BTreeSet<&str> = codes.iter().map(|c| c.as_str()).chain([success]).collect();
        assert_eq!(described, answered, "{schema}");
    }
}
