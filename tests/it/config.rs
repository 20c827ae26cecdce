//! Malformed config files: each gives file, line, column, key path and a reason a
//! person can act on.

use bandit_engine::config::{ProjectConfig, ValueSource};

/// The error message for `yaml`, read as `config.yaml`.
fn error(yaml: &str) -> String {
    match ProjectConfig::from_str_named(yaml, "config.yaml") {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_word_where_a_number_belongs_is_reported_at_its_position() {
    let yaml = "\
version: \"1.0\"
parameters: {}
events:
  signup:
    valueType: boolean
  purchase:
    valueType: currency
    unit: USD
    properties:
      order_id:
        type: string
      total:
        type: number
        minimum: zero
";
    assert_eq!(
        error(yaml),
        "config.yaml:14:18 events.purchase.properties.total.minimum: expected a number, found \"zero\""
    );
}

#[test]
fn an_unknown_event_key_suggests_the_close_one() {
    assert_eq!(
        error("events:\n  purchase:\n    valueType: currency\n    unitt: USD\n"),
        "config.yaml:4:5 events.purchase.unitt: unknown key \"unitt\" (did you mean \"unit\"?)"
    );
}

#[test]
fn an_unknown_top_level_key_lists_the_allowed_ones_when_nothing_is_close() {
    assert_eq!(
        error("version: \"1.0\"\nmetrics: {}\n"),
        "config.yaml:2:1 metrics: unknown key \"metrics\" (expected one of: version, project, \
         parameters, namespaces, propertyGroups, events, optimization)"
    );
}

#[test]
fn a_misspelt_top_level_key_suggests_the_right_one() {
    assert_eq!(
        error("propertyGroup:\n  geo:\n    properties: {}\n"),
        "config.yaml:1:1 propertyGroup: unknown key \"propertyGroup\" (did you mean \"propertyGroups\"?)"
    );
}

#[test]
fn an_unknown_value_type_suggests_the_close_one() {
    assert_eq!(
        error("events:\n  purchase:\n    valueType: curency\n"),
        "config.yaml:3:16 events.purchase.valueType: unknown value \"curency\" (did you mean \"currency\"?)"
    );
}

#[test]
fn an_unrelated_value_type_lists_the_four() {
    assert_eq!(
        error("events:\n  purchase:\n    valueType: money\n"),
        "config.yaml:3:16 events.purchase.valueType: unknown value \"money\" (expected one of: \
         currency, count, rate, boolean)"
    );
}

#[test]
fn an_event_without_a_value_type_is_refused() {
    assert_eq!(
        error("events:\n  purchase:\n    unit: USD\n"),
        "config.yaml:3:5 events.purchase: missing required key \"valueType\""
    );
}

#[test]
fn an_unknown_enforcement_mode_is_refused() {
    assert_eq!(
        error("events:\n  purchase:\n    valueType: currency\n    schemaEnforcement: strict\n"),
        "config.yaml:4:24 events.purchase.schemaEnforcement: unknown value \"strict\" (expected \
         one of: off, warn, reject)"
    );
}

#[test]
fn an_undefined_property_group_suggests_the_close_one() {
    let yaml = "\
propertyGroups:
  geo:
    properties:
      country: { type: string }
events:
  purchase:
    valueType: currency
    propertyGroups: [device, gep]
";
    assert_eq!(
        error(yaml),
        "config.yaml:8:22 events.purchase.propertyGroups[0]: unknown property group \"device\" \
         (expected one of: geo)"
    );
    assert_eq!(
        error(&yaml.replace("[device, gep]", "[gep]")),
        "config.yaml:8:22 events.purchase.propertyGroups[0]: unknown property group \"gep\" \
         (did you mean \"geo\"?)"
    );
}

#[test]
fn a_property_typed_differently_by_a_group_and_the_event_names_both() {
    let yaml = "\
propertyGroups:
  geo:
    properties:
      country: { type: string }
events:
  purchase:
    valueType: currency
    propertyGroups: [geo]
    properties:
      country: { type: integer }
";
    assert_eq!(
        error(yaml),
        "config.yaml:10:24 events.purchase.properties.country.type: property \"country\" is a \
         string in group \"geo\" but an integer in the event's own properties"
    );
}

#[test]
fn a_property_typed_differently_by_two_groups_names_both() {
    let yaml = "\
propertyGroups:
  geo:
    properties:
      region: { type: string }
  shop:
    properties:
      region: { type: object }
events:
  purchase:
    valueType: currency
    propertyGroups: [geo, shop]
";
    assert_eq!(
        error(yaml),
        "config.yaml:11:27 events.purchase.propertyGroups[1]: property \"region\" is a string in \
         group \"geo\" but an object in group \"shop\""
    );
}

#[test]
fn an_invalid_regular_expression_is_reported_at_the_pattern() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      code: { type: string, pattern: \"^[A-Z\" }\n"),
        "config.yaml:5:38 events.e.properties.code.pattern: invalid regular expression \"^[A-Z\": \
         Unbalanced bracket"
    );
}

#[test]
fn a_property_type_outside_the_dsl_is_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      n: { type: float }\n"),
        "config.yaml:5:18 events.e.properties.n.type: unknown value \"float\" (expected one of: \
         string, number, integer, boolean, array, object)"
    );
}

#[test]
fn an_unknown_property_keyword_suggests_the_close_one() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      n:\n        type: string\n        maxLenght: 3\n"),
        "config.yaml:7:9 events.e.properties.n.maxLenght: unknown key \"maxLenght\" (did you mean \"maxLength\"?)"
    );
}

#[test]
fn a_keyword_for_another_type_is_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      n: { type: string, minimum: 1 }\n"),
        "config.yaml:5:35 events.e.properties.n.minimum: minimum applies to number and integer \
         properties, not type: string"
    );
}

#[test]
fn an_enum_value_of_the_wrong_type_is_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      size: { type: integer, enum: [1, 2, large] }\n"),
        "config.yaml:5:43 events.e.properties.size.enum[2]: \"large\" is not of type integer"
    );
}

#[test]
fn a_property_default_must_follow_the_property_schema() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      qty: { type: integer, minimum: 1, default: 0 }\n"),
        "config.yaml:5:50 events.e.properties.qty.default: 0 breaks the property's own schema: \
         0 is below the minimum 1"
    );
}

#[test]
fn crossed_bounds_are_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      s: { type: string, minLength: 5, maxLength: 2 }\n"),
        "config.yaml:5:37 events.e.properties.s.minLength: minLength 5 is above maxLength 2"
    );
}

#[test]
fn an_unknown_format_lists_the_four() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      s: { type: string, format: phone }\n"),
        "config.yaml:5:34 events.e.properties.s.format: unknown value \"phone\" (expected one of: \
         date-time, email, uri, uuid)"
    );
}

#[test]
fn a_nested_item_error_names_the_whole_path() {
    let yaml = "\
events:
  checkout_completed:
    valueType: currency
    properties:
      items:
        type: array
        items:
          type: object
          properties:
            quantity: { type: integer, minimum: one }
";
    assert_eq!(
        error(yaml),
        "config.yaml:10:49 events.checkout_completed.properties.items.items.properties.quantity.minimum: \
         expected a number, found \"one\""
    );
}

#[test]
fn a_parameter_default_must_match_its_type() {
    assert_eq!(
        error("parameters:\n  discount_pct:\n    type: number\n    default: ten\n"),
        "config.yaml:4:14 parameters.discount_pct.default: expected a number (type: number), found \"ten\""
    );
}

#[test]
fn a_json_parameter_default_must_be_an_object_or_a_list() {
    assert_eq!(
        error("parameters:\n  hero.config:\n    type: json\n    default: 5\n"),
        "config.yaml:4:14 parameters.hero.config.default: expected an object or a list (type: json), found 5"
    );
}

#[test]
fn a_parameter_default_outside_its_constraints_is_refused() {
    let yaml = "\
namespaces:
  pricing:
    parameters:
      discount_pct:
        type: number
        default: 60
        constraints: { min: 0, max: 50 }
";
    assert_eq!(
        error(yaml),
        "config.yaml:6:18 namespaces.pricing.parameters.discount_pct.default: default 60 is above max 50"
    );
}

#[test]
fn a_parameter_without_a_default_is_refused() {
    assert_eq!(
        error("parameters:\n  flag:\n    type: boolean\n"),
        "config.yaml:3:5 parameters.flag: missing required key \"default\""
    );
}

#[test]
fn a_namespaced_key_declared_twice_is_refused() {
    let yaml = "\
parameters:
  checkout.color: { type: string, default: red }
namespaces:
  checkout:
    parameters:
      color: { type: string, default: blue }
";
    assert_eq!(
        error(yaml),
        "config.yaml:6:14 namespaces.checkout.parameters.color: parameter \"checkout.color\" is \
         also declared under parameters:"
    );
}

#[test]
fn an_unsupported_version_is_refused() {
    assert_eq!(
        error("version: \"2.0\"\n"),
        "config.yaml:1:10 version: unsupported version \"2.0\" (this engine reads \"1.0\")"
    );
}

#[test]
fn a_bad_schema_version_is_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    schemaVersion: 1.0.0\n"),
        "config.yaml:4:20 events.e.schemaVersion: expected a SchemaVer such as \"1-0-0\", found \"1.0.0\""
    );
}

#[test]
fn a_legacy_project_id_without_its_prefix_is_refused() {
    assert_eq!(
        error("project:\n  id: abc123\n  orgId: org_xyz\n"),
        "config.yaml:2:7 project.id: expected an id starting with \"proj_\", found \"abc123\""
    );
}

#[test]
fn required_must_be_a_boolean() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      s: { type: string, required: yes }\n"),
        "config.yaml:5:36 events.e.properties.s.required: expected true or false, found \"yes\""
    );
}

#[test]
fn properties_must_be_a_mapping() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties: [a, b]\n"),
        "config.yaml:4:17 events.e.properties: expected a mapping, found a list"
    );
}

#[test]
fn a_negative_length_is_refused() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    properties:\n      s: { type: string, maxLength: -1 }\n"),
        "config.yaml:5:37 events.e.properties.s.maxLength: expected a non-negative integer, found -1"
    );
}

#[test]
fn a_duplicated_key_is_a_yaml_error() {
    assert_eq!(
        error("events:\n  e:\n    valueType: count\n    valueType: rate\n"),
        "config.yaml:4:5 (top level): not valid YAML: duplicated key in mapping"
    );
}

#[test]
fn broken_yaml_syntax_is_reported_with_its_position() {
    assert_eq!(
        error("events:\n  e: [count\n"),
        "config.yaml:3:1 (top level): not valid YAML: while parsing a flow sequence, expected ',' or ']'"
    );
}

#[test]
fn an_empty_file_is_refused() {
    assert_eq!(error(""), "config.yaml:1:1 (top level): the file is empty");
}

#[test]
fn an_unknown_optimization_key_suggests_the_platform_name() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  policy_cta:
    algorithm: thompson_bernoulli
    goal: { event: purchase }
    minExposureBeforeShift: 100
";
    assert_eq!(
        error(yaml),
        "config.yaml:7:5 optimization.policy_cta.minExposureBeforeShift: unknown key \
         \"minExposureBeforeShift\" (did you mean \"minExposuresBeforeShift\"?)"
    );
}

#[test]
fn an_unknown_algorithm_suggests_the_platform_name() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  policy_cta:
    algorithm: thompson_bernouli
    goal: { event: purchase }
";
    assert_eq!(
        error(yaml),
        "config.yaml:5:16 optimization.policy_cta.algorithm: unknown value \"thompson_bernouli\" \
         (did you mean \"thompson_bernoulli\"?)"
    );
}

#[test]
fn an_optimization_goal_on_an_undefined_event_is_placed_at_the_event() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  policy_cta:
    algorithm: thompson_bernoulli
    goal: { event: purchse }
";
    assert_eq!(
        error(yaml),
        "config.yaml:6:20 optimization.policy_cta.goal.event: event \"purchse\" is not defined \
         under events: (did you mean \"purchase\"?)"
    );
}

#[test]
fn an_out_of_range_knob_is_placed_at_the_knob() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  policy_cta:
    algorithm: thompson_bernoulli
    goal: { event: purchase }
    maxShiftPerUpdate: 1.5
";
    assert_eq!(
        error(yaml),
        "config.yaml:7:24 optimization.policy_cta.maxShiftPerUpdate: must be in (0, 1], found 1.5"
    );
}

#[test]
fn algorithm_parameters_are_checked_where_they_are_written() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  policy_cta:
    algorithm: epsilon_greedy
    goal: { event: purchase }
    epsilon: 1.2
";
    assert_eq!(
        error(yaml),
        "config.yaml:7:14 optimization.policy_cta.epsilon: must be in [0, 1], found 1.2"
    );
    let yaml = yaml.replace("epsilon: 1.2", "priorBeta: 0");
    assert_eq!(
        error(&yaml),
        "config.yaml:7:16 optimization.policy_cta.priorBeta: must be a positive number, found 0"
    );
}

#[test]
fn a_goal_value_names_its_source() {
    let yaml = "\
events:
  purchase: { valueType: currency, properties: { order_total: { type: number } } }
optimization:
  by_value:
    algorithm: thompson_gaussian
    goal: { event: purchase, type: sum, value: value }
  by_values:
    algorithm: thompson_gaussian
    goal: { event: purchase, type: sum, value: { values: revenue } }
  by_property:
    algorithm: thompson_gaussian
    goal: { event: purchase, type: mean, value: { property: order_total } }
";
    let cfg = ProjectConfig::from_str_named(yaml, "config.yaml").unwrap();
    assert_eq!(cfg.optimization["by_value"].goal.value, ValueSource::Value);
    assert_eq!(
        cfg.optimization["by_values"].goal.value,
        ValueSource::Values("revenue".into())
    );
    assert_eq!(
        cfg.optimization["by_property"].goal.value,
        ValueSource::Property("order_total".into())
    );
}

#[test]
fn a_goal_value_source_without_its_name_says_how_to_write_it() {
    let yaml = "\
events:
  purchase: { valueType: currency }
optimization:
  p:
    algorithm: thompson_gaussian
    goal: { event: purchase, type: sum, value: values }
";
    assert_eq!(
        error(yaml),
        "config.yaml:6:48 optimization.p.goal.value: \"values\" needs a value: write { values: ... }"
    );
}

#[test]
fn project_yaml_beside_the_config_is_the_project_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "version: \"1.0\"\nparameters: {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("project.yaml"),
        "version: \"1.0\"\norg:\n  id: org_DqQZGfRs\n  key: acme\nproject:\n  id: proj_ST6qGDbR\n",
    )
    .unwrap();
    let cfg = ProjectConfig::from_path(dir.path().join("config.yaml")).unwrap();
    let link = cfg.link().unwrap();
    assert_eq!(
        (link.org_id.as_str(), link.project_id.as_str()),
        ("org_DqQZGfRs", "proj_ST6qGDbR")
    );
}

#[test]
fn a_bad_project_yaml_is_reported_in_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "version: \"1.0\"\n").unwrap();
    let link = dir.path().join("project.yaml");
    std::fs::write(
        &link,
        "version: \"1.0\"\norg: { id: acme }\nproject: { id: proj_1 }\n",
    )
    .unwrap();
    let err = ProjectConfig::from_path(dir.path().join("config.yaml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:2:12 org.id: expected an id starting with \"org_\", found \"acme\"",
            link.display()
        )
    );
}

proptest::proptest! {
    /// The reader never panics, whatever it is given: text built from YAML's structural
    /// characters and the DSL's keywords, in any order.
    #[test]
    fn the_reader_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "events:", "\n", "  ", "- ", ": ", "{", "}", "[", "]", ",", "\"", "&a ", "*a",
                "!!str ", "valueType", "currency", "properties", "type", "string", "integer",
                "propertyGroups", "geo", "pattern", "\"^[\"", "minimum", "-1", "1e999", "null",
                "optimization", "goal", "values", "#", "?", "|", ">",
            ]),
            0..60,
        )
    ) {
        let _ = ProjectConfig::from_str_named(&parts.concat(), "fuzz.yaml");
    }
}
