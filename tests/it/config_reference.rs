//! Every YAML example of the reference pages loads unchanged.
//!
//! A page's examples are parts of one `.traffical/` directory, so two kinds of block are
//! completed from their page rather than edited:
//! - parameter fragments (a bare `catalog.ranking_algo:` entry) are read as entries of
//!   `parameters:`, which is where the page says they go;
//! - an example whose events use a property group defined in another example of the same
//!   page is read together with that page's group-only examples.
//!
//! `project.yaml` examples are read with [`ProjectFile`]; `metrics.yaml` examples are
//! skipped, because the engine does not read metrics.yaml.

use bandit_engine::config::{
    ProjectConfig, ProjectFile, PropertySource, PropertyType, SchemaEnforcement, ValueType,
};

use crate::common::reference;

const TOP_LEVEL: &[&str] = &[
    "version",
    "project",
    "parameters",
    "namespaces",
    "propertyGroups",
    "events",
    "optimization",
];

/// The ```yaml blocks of a markdown page, dedented to their fence.
fn fenced_yaml(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in page.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == "```yaml" => {
                current = Some((line.len() - trimmed.len(), String::new()))
            }
            None => {}
            Some(_) if trimmed == "```" => {
                let (_, text) = current.take().expect("inside a block");
                blocks.push(text);
            }
            Some((indent, text)) => {
                text.push_str(line.get(*indent..).unwrap_or(""));
                text.push('\n');
            }
        }
    }
    blocks
}

fn top_keys(block: &str) -> Vec<&str> {
    block
        .lines()
        .filter(|l| !l.starts_with([' ', '#']) && !l.is_empty())
        .filter_map(|l| l.split(':').next())
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loaded {
    Config,
    Project,
    SkippedMetrics,
}

/// Loads every example of a page; returns what each was read as.
fn load_page(name: &str, blocks: &[String]) -> Vec<Loaded> {
    let groups_only: String = blocks
        .iter()
        .filter(|b| top_keys(b) == ["propertyGroups"])
        .map(String::as_str)
        .collect();
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let keys = top_keys(block);
            let label = format!("{name} example {}", i + 1);
            if keys.contains(&"metrics") || keys.contains(&"fact_sources") {
                return Loaded::SkippedMetrics;
            }
            if keys.contains(&"org") {
                ProjectFile::from_str_named(block, &label).unwrap_or_else(|e| panic!("{e}"));
                return Loaded::Project;
            }
            let text = if keys.iter().all(|k| !TOP_LEVEL.contains(k)) {
                let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
                format!("parameters:\n{indented}")
            } else if !keys.contains(&"propertyGroups") {
                format!("{block}{groups_only}")
            } else {
                block.clone()
            };
            ProjectConfig::from_str_named(&text, &label)
                .unwrap_or_else(|e| panic!("{e}\n--- {label} ---\n{text}"));
            Loaded::Config
        })
        .collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(reference(rel)).unwrap()
}

#[test]
fn every_example_of_the_config_file_page_loads() {
    let blocks = fenced_yaml(&read("traffical-docs/tools/config-file.mdx"));
    let loaded = load_page("config-file.mdx", &blocks);
    use Loaded::{Config, Project, SkippedMetrics};
    assert_eq!(
        loaded,
        [
            Config,
            Config,
            Config,
            Config,
            Config,
            Config,
            Config,
            Config,
            Project,
            SkippedMetrics
        ]
    );
}

#[test]
fn every_example_of_the_type_safe_events_guide_loads() {
    let blocks = fenced_yaml(&read("traffical-docs/guides/type-safe-events.mdx"));
    assert_eq!(
        load_page("type-safe-events.mdx", &blocks),
        [Loaded::Config; 3]
    );
}

#[test]
fn every_example_of_the_events_page_loads() {
    // The docs page the product's events page is rendered from: the same three examples.
    let blocks = fenced_yaml(&read("traffical-docs/concepts/events-and-metrics.mdx"));
    assert_eq!(
        load_page("events-and-metrics.mdx", &blocks),
        [Loaded::Config; 3]
    );
}

#[test]
fn the_legacy_schema_example_with_a_project_block_loads() {
    let schema: serde_json::Value = serde_json::from_str(&read(
        "traffical-sdk-spec/schemas/traffical-config.schema.json",
    ))
    .unwrap();
    let examples = schema["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 1);
    // JSON is YAML: the example is read as written.
    let cfg = ProjectConfig::from_str_named(&examples[0].to_string(), "schema example").unwrap();
    let link = cfg.link().unwrap();
    assert_eq!(
        (link.org_id.as_str(), link.project_id.as_str()),
        ("org_xyz789", "proj_abc123")
    );
    assert_eq!(cfg.all_parameters().len(), 4);
    assert_eq!(cfg.events["purchase"].value_type, ValueType::Currency);
}

#[test]
fn the_guide_checkout_event_keeps_every_keyword_and_merges_geo() {
    let blocks = fenced_yaml(&read("traffical-docs/guides/type-safe-events.mdx"));
    let text = format!("{}{}", blocks[0], blocks[1]);
    let cfg = ProjectConfig::from_str_named(&text, "guide").unwrap();
    let event = &cfg.events["checkout_completed"];
    assert_eq!(event.schema_version.as_deref(), Some("1-0-0"));
    assert_eq!(event.schema_enforcement, SchemaEnforcement::Warn);
    let schema = cfg.schema("checkout_completed").unwrap();
    let names: Vec<&str> = schema.properties.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "market",
            "country",
            "currency",
            "order_id",
            "total",
            "payment_method",
            "items"
        ]
    );
    assert_eq!(
        schema.properties["market"].source,
        PropertySource::Group("geo".into())
    );
    assert_eq!(schema.properties["items"].source, PropertySource::Event);
    let items = schema.properties["items"].schema.items.as_ref().unwrap();
    assert_eq!(items.property_type, PropertyType::Object);
    let quantity = &items.properties.as_ref().unwrap()["quantity"];
    assert_eq!(
        (quantity.property_type, quantity.minimum),
        (PropertyType::Integer, Some(1.0))
    );
    assert_eq!(
        schema.properties["currency"]
            .schema
            .pattern
            .as_ref()
            .unwrap()
            .as_str(),
        "^[A-Z]{3}$"
    );
}

#[test]
fn the_demo_dataset_config_loads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/.traffical/config.yaml"
    );
    let cfg = ProjectConfig::from_path(path).unwrap();
    assert_eq!(cfg.optimization.len(), 2);
    assert!(
        cfg.schema("purchase").unwrap().properties["order_id"]
            .schema
            .required
    );
}
