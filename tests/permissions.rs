//! Least privilege, checked against behaviour: each function's IAM policy in template.yaml
//! grants exactly the AWS actions that function was seen making while the whole suite ran,
//! and nothing more. `scripts/aws_calls.py` sits between the local functions and the
//! emulators and writes down every call with the function that made it (the SDK's
//! `app/twostep-<function>` user agent), the IAM action it needs and the keys it touched.
//!
//! It reads what every other test made the functions do, so `scripts/test.sh` runs it last.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Debug)]
struct Grant {
    action: String,
    /// For DynamoDB: "table", or "index/<name>".
    resource: String,
    /// `dynamodb:LeadingKeys` patterns, when the grant has that condition.
    leading_keys: Option<Vec<String>>,
}

#[derive(Debug)]
struct Call {
    function: String,
    action: String,
    keys: Vec<String>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by scripts/test.sh"))
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, found {other}"),
    }
}

/// What a statement's `Resource` names, for DynamoDB: the table or one of its indexes.
fn dynamodb_resource(statement: &Value) -> String {
    match &statement["Resource"] {
        Value::Object(f) if f.get("!GetAtt") == Some(&Value::from("Table.Arn")) => {
            "table".to_owned()
        }
        Value::Object(f) => match f.get("!Sub").and_then(Value::as_str) {
            Some(sub) if sub.starts_with("${Table.Arn}/index/") => {
                format!("index/{}", &sub["${Table.Arn}/index/".len()..])
            }
            _ => panic!("a DynamoDB grant on something other than the table: {statement}"),
        },
        other => panic!("a DynamoDB grant on {other}: grant the table or an index of it"),
    }
}

/// Every function's grants, by function name (`send`, `verify`, `cleanup`, `events`,
/// `webhooks`).
fn grants(template: &Value) -> BTreeMap<String, Vec<Grant>> {
    let mut out = BTreeMap::new();
    let resources = template["Resources"].as_object().expect("Resources");
    for resource in resources.values() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its binary");
        let mut list = Vec::new();
        for policy in resource["Properties"]["Policies"]
            .as_array()
            .expect("Policies as a list")
        {
            let statements = policy["Statement"].as_array().unwrap_or_else(|| {
                panic!("{binary}: only inline policy statements can be checked, found {policy}")
            });
            for statement in statements {
                assert_eq!(statement["Effect"], "Allow", "{binary}: {statement}");
                for action in strings(&statement["Action"]) {
                    assert!(
                        !action.contains('*'),
                        "{binary} is granted the wildcard action {action}"
                    );
                    let dynamodb = action.starts_with("dynamodb:");
                    let keys =
                        &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                    let leading_keys = (!keys.is_null()).then(|| strings(keys));
                    list.push(Grant {
                        action,
                        resource: if dynamodb {
                            dynamodb_resource(statement)
                        } else {
                            String::new()
                        },
                        leading_keys,
                    });
                }
            }
        }
        out.insert(binary.to_owned(), list);
    }
    out
}

/// Every call the functions made, from the recorder's log.
fn calls(log: &str) -> Vec<Call> {
    let mut out = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("a JSON line");
        let Some(function) = record["app"]
            .as_str()
            .and_then(|a| a.strip_prefix("twostep-"))
            .filter(|f| *f != "tests")
        else {
            continue; // the set-up script and the in-process tests
        };
        for action in record["actions"].as_array().into_iter().flatten() {
            out.push(Call {
                function: function.to_owned(),
                action: action["action"].as_str().expect("action").to_owned(),
                keys: strings(&action["keys"]),
            });
        }
    }
    out
}

fn covers(grant: &Grant, call: &Call) -> bool {
    if grant.action != call.action {
        return false;
    }
    if call.action.starts_with("dynamodb:") {
        let wanted = match call.action.as_str() {
            "dynamodb:Query" | "dynamodb:Scan" => match call.keys.first() {
                Some(index) if !index.is_empty() => format!("index/{index}"),
                _ => "table".to_owned(),
            },
            _ => "table".to_owned(),
        };
        if grant.resource != wanted {
            return false;
        }
    }
    match &grant.leading_keys {
        None => true,
        Some(patterns) => call.keys.iter().all(|key| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => key == p,
            })
        }),
    }
}

#[test]
#[ignore = "reads the calls the whole suite made: scripts/test.sh runs it last"]
fn each_function_is_granted_exactly_the_aws_actions_it_uses() {
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(env("TWOSTEP_TEMPLATE_JSON")).expect("the template as JSON"),
    )
    .expect("JSON");
    let grants = grants(&template);
    let calls = calls(&std::fs::read_to_string(env("AWS_CALLS_LOG")).expect("the calls log"));
    assert_eq!(
        grants.keys().collect::<Vec<_>>(),
        ["calls", "cleanup", "events", "send", "verify", "webhooks"],
        "the functions in template.yaml"
    );

    let mut problems = Vec::new();
    let mut used: BTreeSet<(String, usize)> = BTreeSet::new();
    for call in &calls {
        let granted = grants.get(&call.function).map(Vec::as_slice).unwrap_or(&[]);
        match granted.iter().position(|g| covers(g, call)) {
            Some(i) => {
                used.insert((call.function.clone(), i));
            }
            None => problems.push(format!(
                "{} calls {} on {:?} but template.yaml does not allow it",
                call.function, call.action, call.keys
            )),
        }
    }
    for (function, list) in &grants {
        for (i, grant) in list.iter().enumerate() {
            if !used.contains(&(function.clone(), i)) {
                problems.push(format!(
                    "{function} is granted {} on {} but never used it in the whole suite",
                    grant.action,
                    if grant.resource.is_empty() {
                        "its resource"
                    } else {
                        &grant.resource
                    }
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} calls recorded; least privilege broken:\n{}",
        calls.len(),
        problems.join("\n")
    );
    println!(
        "{} calls by {} functions, {} grants, each used",
        calls.len(),
        grants.len(),
        grants.values().map(Vec::len).sum::<usize>()
    );
}

#[test]
fn a_grant_with_leading_keys_covers_only_those_keys() {
    let grant = Grant {
        action: "dynamodb:DeleteItem".to_owned(),
        resource: "table".to_owned(),
        leading_keys: Some(vec!["I#*".to_owned()]),
    };
    let call = |key: &str| Call {
        function: "send".to_owned(),
        action: "dynamodb:DeleteItem".to_owned(),
        keys: vec![key.to_owned()],
    };
    assert!(covers(&grant, &call("I#")));
    assert!(!covers(&grant, &call("C#")));
    let query = Call {
        function: "cleanup".to_owned(),
        action: "dynamodb:Query".to_owned(),
        keys: vec!["unverified-by-age".to_owned()],
    };
    let on_table = Grant {
        action: "dynamodb:Query".to_owned(),
        resource: "table".to_owned(),
        leading_keys: None,
    };
    assert!(
        !covers(&on_table, &query),
        "a table grant is not an index grant"
    );
}
