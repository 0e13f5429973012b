//! A small typed model of a Grafana dashboard: variables, rows and panels
//! with Prometheus queries, laid out left to right on Grafana's 24-column
//! grid. [`Dashboard::to_json`] writes it with only fields of Grafana's
//! dashboard schema (schemaVersion 42), each panel's `options` complete for
//! its type, and every query on the `${datasource}` variable.

use serde_json::{json, Map, Value};

/// Name of the data source variable every query uses.
pub const DATASOURCE: &str = "datasource";

/// Width of Grafana's grid.
const GRID_WIDTH: u8 = 24;

/// One dashboard: what goes into `deploy/dashboards/<file>.json`.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// File stem under `deploy/dashboards/` (also the ConfigMap's suffix).
    pub file: &'static str,
    /// Grafana uid (stable: links and provisioning use it).
    pub uid: &'static str,
    /// Title.
    pub title: &'static str,
    /// What the dashboard is for.
    pub description: &'static str,
    /// Tags.
    pub tags: Vec<&'static str>,
    /// Variables, after the data source variable (which every dashboard has).
    pub variables: Vec<Variable>,
    /// Rows and panels, in reading order.
    pub panels: Vec<Panel>,
}

/// A template variable.
#[derive(Debug, Clone)]
pub enum Variable {
    /// The values of a label in the data source (`label_values(metric, label)`),
    /// multi-select with "All" (all values as a regex `.*`).
    LabelValues {
        /// Variable name (`$name` in queries).
        name: &'static str,
        /// Shown label.
        label: &'static str,
        /// The series to read the label from, e.g. `kubenurse_httpclient_requests_total`.
        metric: &'static str,
        /// The label.
        label_name: &'static str,
    },
    /// A fixed list of values, multi-select with "All".
    Custom {
        /// Variable name.
        name: &'static str,
        /// Shown label.
        label: &'static str,
        /// The values; the first is the default.
        values: Vec<&'static str>,
    },
    /// A choice of durations (e.g. an SLI window), the first the default.
    Interval {
        /// Variable name.
        name: &'static str,
        /// Shown label.
        label: &'static str,
        /// The durations.
        values: Vec<&'static str>,
    },
    /// Free text with a default.
    Textbox {
        /// Variable name.
        name: &'static str,
        /// Shown label.
        label: &'static str,
        /// Default value.
        default: &'static str,
    },
}

/// How a panel shows its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viz {
    /// A row header grouping the panels after it.
    Row,
    /// Lines over time.
    TimeSeries,
    /// Lines over time, stacked.
    Stacked,
    /// One big number per series (the last value).
    Stat,
    /// A table of the series at the dashboard's end time.
    Table,
    /// A heatmap of histogram buckets (`le`) over time.
    Heatmap,
    /// Horizontal bars, one per series (the last value).
    BarGauge,
    /// Each series' value as coloured states over time.
    StateTimeline,
}

impl Viz {
    fn grafana_type(self) -> &'static str {
        match self {
            Viz::Row => "row",
            Viz::TimeSeries | Viz::Stacked => "timeseries",
            Viz::Stat => "stat",
            Viz::Table => "table",
            Viz::Heatmap => "heatmap",
            Viz::BarGauge => "bargauge",
            Viz::StateTimeline => "state-timeline",
        }
    }

    /// Whether its queries are instant (one value per series) rather than ranges.
    fn instant(self) -> bool {
        matches!(self, Viz::Stat | Viz::Table | Viz::BarGauge)
    }
}

/// One Prometheus query of a panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The PromQL expression (may use the dashboard's variables and
    /// `$__rate_interval`).
    pub expr: String,
    /// Legend format (`{{label}}`).
    pub legend: String,
}

/// A panel (or a row header).
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title (may use variables).
    pub title: String,
    /// What the panel shows and how to read it.
    pub description: String,
    /// Visualisation.
    pub viz: Viz,
    /// Grafana unit of the values (`s`, `percentunit`, `reqps`, `short`, …).
    pub unit: &'static str,
    /// Queries, A, B, … in order.
    pub targets: Vec<Target>,
    /// Width in grid columns (of 24).
    pub width: u8,
    /// Height in grid rows.
    pub height: u8,
    /// Repeats the row (or panel) once per value of this variable.
    pub repeat: Option<&'static str>,
}

impl Panel {
    fn new(viz: Viz, title: &str, unit: &'static str) -> Self {
        Self {
            title: title.to_string(),
            description: String::new(),
            viz,
            unit,
            targets: Vec::new(),
            width: 12,
            height: 8,
            repeat: None,
        }
    }

    /// A row header.
    pub fn row(title: &str) -> Self {
        Self {
            width: GRID_WIDTH,
            height: 1,
            ..Self::new(Viz::Row, title, "")
        }
    }

    /// A time series panel.
    pub fn timeseries(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::TimeSeries, title, unit)
    }

    /// A stacked time series panel.
    pub fn stacked(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::Stacked, title, unit)
    }

    /// A stat panel (small by default: 4 x 4).
    pub fn stat(title: &str, unit: &'static str) -> Self {
        Self {
            width: 4,
            height: 4,
            ..Self::new(Viz::Stat, title, unit)
        }
    }

    /// A table of instant values.
    pub fn table(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::Table, title, unit)
    }

    /// A heatmap of histogram buckets: the query must be grouped `by (le)`.
    pub fn heatmap(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::Heatmap, title, unit)
    }

    /// Horizontal bars of instant values.
    pub fn bargauge(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::BarGauge, title, unit)
    }

    /// States over time.
    pub fn state_timeline(title: &str, unit: &'static str) -> Self {
        Self::new(Viz::StateTimeline, title, unit)
    }

    /// Sets the description.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// Adds a query with its legend format.
    pub fn query(mut self, expr: &str, legend: &str) -> Self {
        self.targets.push(Target {
            expr: expr.to_string(),
            legend: legend.to_string(),
        });
        self
    }

    /// Sets the size in grid columns (of 24) and rows.
    pub fn size(mut self, width: u8, height: u8) -> Self {
        self.width = width.clamp(1, GRID_WIDTH);
        self.height = height.max(1);
        self
    }

    /// Repeats it once per value of variable `name`.
    pub fn repeat(mut self, name: &'static str) -> Self {
        self.repeat = Some(name);
        self
    }

    fn options(&self) -> Value {
        let legend =
            json!({"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []});
        let reduce = json!({"calcs": ["lastNotNull"], "fields": "", "values": false});
        match self.viz {
            Viz::Row => Value::Null,
            Viz::TimeSeries | Viz::Stacked => json!({
                "legend": legend,
                "tooltip": {"mode": "multi", "sort": "desc"},
            }),
            Viz::Stat => json!({
                "graphMode": "area",
                "colorMode": "value",
                "justifyMode": "auto",
                "textMode": "auto",
                "wideLayout": true,
                "showPercentChange": false,
                "percentChangeColorMode": "standard",
                "orientation": "auto",
                "reduceOptions": reduce,
            }),
            Viz::Table => json!({"frameIndex": 0, "showHeader": true}),
            Viz::Heatmap => json!({
                "calculate": false,
                "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "exponent": 0.5, "steps": 64, "reverse": false},
                "showValue": "auto",
                "yAxis": {"axisPlacement": "left", "unit": self.unit},
                "legend": {"show": true},
                "tooltip": {"mode": "single", "yHistogram": false},
                "exemplars": {"color": "rgba(255,0,255,0.7)"},
                "rowsFrame": {"layout": "auto"},
                "cellGap": 1,
            }),
            Viz::BarGauge => json!({
                "displayMode": "gradient",
                "valueMode": "color",
                "namePlacement": "auto",
                "showUnfilled": true,
                "sizing": "auto",
                "minVizWidth": 8,
                "minVizHeight": 16,
                "maxVizHeight": 300,
                "orientation": "horizontal",
                "legend": legend,
                "reduceOptions": reduce,
            }),
            Viz::StateTimeline => json!({
                "showValue": "auto",
                "rowHeight": 0.9,
                "mergeValues": true,
                "alignValue": "left",
                "legend": legend,
                "tooltip": {"mode": "single", "sort": "none"},
            }),
        }
    }

    fn to_json(&self, id: u32, (x, y): (u8, u8)) -> Value {
        let mut panel = Map::new();
        panel.insert("type".into(), json!(self.viz.grafana_type()));
        panel.insert("id".into(), json!(id));
        panel.insert("title".into(), json!(self.title));
        if !self.description.is_empty() {
            panel.insert("description".into(), json!(self.description));
        }
        panel.insert(
            "gridPos".into(),
            json!({"h": self.height, "w": self.width, "x": x, "y": y}),
        );
        if let Some(name) = self.repeat {
            panel.insert("repeat".into(), json!(name));
            if self.viz != Viz::Row {
                panel.insert("repeatDirection".into(), json!("h"));
            }
        }
        if self.viz == Viz::Row {
            panel.insert("collapsed".into(), json!(false));
            panel.insert("panels".into(), json!([]));
            return Value::Object(panel);
        }
        panel.insert("datasource".into(), datasource());
        let targets: Vec<Value> = self
            .targets
            .iter()
            .zip('A'..='Z')
            .map(|(t, ref_id)| {
                let format = match self.viz {
                    Viz::Heatmap => "heatmap",
                    Viz::Table => "table",
                    _ => "time_series",
                };
                json!({
                    "refId": ref_id.to_string(),
                    "datasource": datasource(),
                    "expr": t.expr,
                    "legendFormat": t.legend,
                    "range": !self.viz.instant(),
                    "instant": self.viz.instant(),
                    "format": format,
                })
            })
            .collect();
        panel.insert("targets".into(), json!(targets));
        let mut defaults = json!({"unit": self.unit});
        if self.viz == Viz::Stacked {
            defaults["custom"] =
                json!({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30});
        }
        panel.insert(
            "fieldConfig".into(),
            json!({"defaults": defaults, "overrides": []}),
        );
        panel.insert("options".into(), self.options());
        Value::Object(panel)
    }
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": format!("${{{DATASOURCE}}}")})
}

impl Variable {
    /// Its name (`$name` in queries).
    pub fn name(&self) -> &'static str {
        match self {
            Variable::LabelValues { name, .. }
            | Variable::Custom { name, .. }
            | Variable::Interval { name, .. }
            | Variable::Textbox { name, .. } => name,
        }
    }

    fn to_json(&self) -> Value {
        let option = |v: &str, selected: bool| json!({"text": v, "value": v, "selected": selected});
        match self {
            Variable::LabelValues {
                name,
                label,
                metric,
                label_name,
            } => json!({
                "type": "query",
                "name": name,
                "label": label,
                "datasource": datasource(),
                "query": format!("label_values({metric}, {label_name})"),
                "refresh": 2,
                "sort": 1,
                "multi": true,
                "includeAll": true,
                "allValue": ".*",
                "current": {"text": "All", "value": "$__all"},
            }),
            Variable::Custom {
                name,
                label,
                values,
            } => json!({
                "type": "custom",
                "name": name,
                "label": label,
                "query": values.join(","),
                "multi": true,
                "includeAll": true,
                "current": {"text": values[0], "value": values[0]},
                "options": values.iter().enumerate().map(|(i, v)| option(v, i == 0)).collect::<Vec<_>>(),
            }),
            Variable::Interval {
                name,
                label,
                values,
            } => json!({
                "type": "interval",
                "name": name,
                "label": label,
                "query": values.join(","),
                "current": {"text": values[0], "value": values[0]},
                "options": values.iter().enumerate().map(|(i, v)| option(v, i == 0)).collect::<Vec<_>>(),
            }),
            Variable::Textbox {
                name,
                label,
                default,
            } => json!({
                "type": "textbox",
                "name": name,
                "label": label,
                "query": default,
                "current": {"text": default, "value": default},
            }),
        }
    }
}

impl Dashboard {
    /// Every panel's position on the grid: left to right, a new line when the
    /// next one does not fit, each row header on a line of its own.
    pub fn layout(&self) -> Vec<(u8, u8)> {
        let (mut x, mut y, mut line_height) = (0u8, 0u8, 0u8);
        self.panels
            .iter()
            .map(|p| {
                if p.viz == Viz::Row || x + p.width > GRID_WIDTH {
                    y += line_height;
                    x = 0;
                    line_height = 0;
                }
                let at = (x, y);
                x += p.width;
                line_height = line_height.max(p.height);
                at
            })
            .collect()
    }

    /// The dashboard as Grafana JSON.
    pub fn to_json(&self) -> Value {
        let mut variables = vec![json!({
            "type": "datasource",
            "name": DATASOURCE,
            "label": "Data source",
            "query": "prometheus",
            "current": {"text": "default", "value": "default"},
        })];
        variables.extend(self.variables.iter().map(Variable::to_json));
        let panels: Vec<Value> = self
            .panels
            .iter()
            .zip(self.layout())
            .zip(1..)
            .map(|((p, at), id)| p.to_json(id, at))
            .collect();
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": true,
            "graphTooltip": 1,
            "timezone": "browser",
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "1m",
            "schemaVersion": 42,
            "annotations": {"list": []},
            "templating": {"list": variables},
            "panels": panels,
        })
    }

    /// [`Dashboard::to_json`] pretty-printed, with a final newline: the file's content.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(panels: Vec<Panel>) -> Dashboard {
        Dashboard {
            file: "t",
            uid: "t",
            title: "t",
            description: "",
            tags: vec![],
            variables: vec![],
            panels,
        }
    }

    #[test]
    fn panels_flow_left_to_right_and_rows_start_a_line() {
        let d = board(vec![
            Panel::row("a"),
            Panel::stat("s1", "short"),
            Panel::stat("s2", "short"),
            Panel::timeseries("t", "s").size(20, 8),
            Panel::row("b"),
            Panel::table("x", "short").size(24, 6),
        ]);
        assert_eq!(
            d.layout(),
            vec![(0, 0), (0, 1), (4, 1), (0, 5), (0, 13), (0, 14)]
        );
    }

    #[test]
    fn queries_use_the_datasource_variable_and_instant_panels_instant_queries() {
        let d = board(vec![
            Panel::stat("s", "short").query("up", "{{job}}"),
            Panel::heatmap("h", "s").query("sum by (le) (x)", "{{le}}"),
        ]);
        let json = d.to_json();
        let stat = &json["panels"][0]["targets"][0];
        assert_eq!(stat["datasource"]["uid"], "${datasource}");
        assert_eq!(stat["instant"], true);
        assert_eq!(stat["range"], false);
        assert_eq!(stat["refId"], "A");
        assert_eq!(json["panels"][1]["targets"][0]["format"], "heatmap");
        assert_eq!(json["templating"]["list"][0]["name"], "datasource");
        assert_eq!(json["panels"][1]["id"], 2);
    }
}
