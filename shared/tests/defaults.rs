//! One default per setting: template.yaml's parameters (what a deployed stack gets) against
//! the code's own defaults and ranges (what a function gets without the variable), so that
//! a default changed in one place and not the other fails here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use twostep::Config;
use twostep::config::SETTINGS;
use yaml_serde::Value;

fn template() -> Value {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    yaml_serde::from_str(&text).expect("template.yaml is YAML")
}

/// The parameter behind each environment variable that is a plain `!Ref` of one, from
/// `Globals` and every function.
fn parameters_by_variable(template: &Value) -> BTreeMap<String, String> {
    let parameters = template["Parameters"].as_mapping().expect("parameters");
    let mut sets = vec![&template["Globals"]["Function"]["Environment"]["Variables"]];
    for (_, resource) in template["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            sets.push(&resource["Properties"]["Environment"]["Variables"]);
        }
    }
    let mut found = BTreeMap::new();
    for variables in sets.into_iter().filter_map(Value::as_mapping) {
        for (name, value) in variables {
            let Value::Tagged(tagged) = value else {
                continue;
            };
            let parameter = tagged.value.as_str().unwrap_or_default();
            if tagged.tag == "Ref" && parameters.contains_key(parameter) {
                let name = name.as_str().expect("a variable name").to_owned();
                found.insert(name, parameter.to_owned());
            }
        }
    }
    found
}

fn number(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[test]
fn every_numeric_setting_has_the_templates_default_and_range() {
    let template = template();
    let by_variable = parameters_by_variable(&template);
    for setting in SETTINGS {
        let parameter = by_variable.get(setting.variable).unwrap_or_else(|| {
            panic!(
                "template.yaml sets no {} from a parameter",
                setting.variable
            )
        });
        let p = &template["Parameters"][parameter.as_str()];
        assert_eq!(
            number(&p["Default"]),
            Some(setting.default),
            "{parameter}'s Default against {}'s",
            setting.variable
        );
        assert_eq!(
            number(&p["MinValue"]),
            Some(setting.min),
            "{parameter}'s MinValue"
        );
        assert_eq!(
            number(&p["MaxValue"]),
            Some(setting.max),
            "{parameter}'s MaxValue"
        );
    }
}

#[test]
fn text_settings_default_as_the_template_does() {
    let template = template();
    let by_variable = parameters_by_variable(&template);
    let vars = [
        ("TABLE_NAME", "t"),
        ("EMAIL_FROM", "codes@example.com"),
        ("CODE_HASH_SECRET_ID", "k"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let config = Config::from_vars(&vars).expect("the defaults");
    let default_of = |variable: &str| {
        let parameter = &by_variable[variable];
        template["Parameters"][parameter.as_str()]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("{parameter} has a text Default"))
            .to_owned()
    };
    assert_eq!(default_of("DEFAULT_COUNTRY"), config.default_country.code());
    assert_eq!(default_of("BRAND_NAME"), config.brand_name);
}

/// The webhook's schedule, its queue's redrive and the function's timeout agree: the queue
/// lets a message be received once per attempt (`maxReceiveCount`), keeps it longer than the
/// whole schedule, and hides a batch for six function timeouts, as Lambda's SQS source asks.
#[test]
fn the_webhook_queue_fits_the_retry_schedule() {
    use twostep::webhooks::Schedule;
    use twostep::webhooks::delivery::DEFAULT_WAITS;

    let template = template();
    let function = &template["Resources"]["WebhookFunction"]["Properties"];
    let queue = &template["Resources"]["WebhookQueue"]["Properties"];
    let waits = function["Environment"]["Variables"]["WEBHOOK_RETRY_SECONDS"]
        .as_str()
        .expect("WEBHOOK_RETRY_SECONDS");
    let schedule = Schedule::parse(waits).expect("a schedule");
    assert_eq!(
        schedule,
        Schedule::default(),
        "the template's schedule is the code's default"
    );
    assert_eq!(
        number(&queue["RedrivePolicy"]["maxReceiveCount"]),
        Some(schedule.attempts())
    );
    let total: u32 = DEFAULT_WAITS.iter().sum();
    let retention = number(&queue["MessageRetentionPeriod"]).expect("a retention");
    assert!(retention > total, "{retention} s kept, {total} s of waits");
    let timeout = number(&function["Timeout"]).expect("a timeout");
    assert!(number(&queue["VisibilityTimeout"]).expect("a visibility") >= 6 * timeout);
}

/// The alarm on unreadable keys counts the log line the functions write for each failed read
/// (`service::deferred::READ_FAILED`): a message changed in one place and not the other would
/// silence the alarm.
#[test]
fn the_key_read_alarm_counts_the_line_the_functions_write() {
    let template = template();
    let pattern = format!("\"{}\"", twostep::service::deferred::READ_FAILED);
    let filters: Vec<&Value> = template["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::MetricFilter"))
        .filter(|r| {
            r["Properties"]["MetricTransformations"][0]["MetricName"].as_str()
                == Some("KeyReadFailures")
        })
        .collect();
    assert_eq!(filters.len(), 3, "send's, verify's and calls' log groups");
    for filter in filters {
        assert_eq!(
            filter["Properties"]["FilterPattern"].as_str(),
            Some(pattern.as_str())
        );
    }
    let alarm = &template["Resources"]["KeyReadFailuresAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some("KeyReadFailures"));
}
