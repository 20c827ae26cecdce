//! Line charts as SVG and PNG (plotters). The PNG renderer draws text with DejaVu
//! Sans, embedded (`assets/fonts`, Bitstream Vera licence), so plots need no system
//! font library.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One line of a panel.
pub struct Line {
    /// Legend label.
    pub label: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// Drawn thicker (e.g. the best allocation).
    pub bold: bool,
}

/// One chart of a figure.
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// X axis description.
    pub x_desc: String,
    /// Y axis description.
    pub y_desc: String,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// The lines; colours follow their order, so the same label order gives the same
    /// colours across panels.
    pub lines: Vec<Line>,
}

/// Panels laid out on a grid, row by row.
pub struct Figure {
    /// Columns of the grid.
    pub columns: usize,
    /// Panel size in pixels.
    pub panel_size: (u32, u32),
    /// Panels.
    pub panels: Vec<Panel>,
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

fn colour(i: usize) -> RGBColor {
    // Colour-blind-safe palette (Okabe and Ito 2008), then plotters' own.
    const OKABE_ITO: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(240, 228, 66),
        RGBColor(0, 0, 0),
    ];
    OKABE_ITO.get(i).copied().unwrap_or_else(|| {
        let (r, g, b) = Palette99::pick(i).rgb();
        RGBColor(r, g, b)
    })
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e:?}", panel.title);
    let x_max = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0_f64, f64::max);
    let (y_min, y_max) = panel.y_range.unwrap_or_else(|| {
        let hi = panel
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0_f64, f64::max);
        (0.0, if hi > 0.0 { hi * 1.05 } else { 1.0 })
    });
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_desc)
        .y_desc(&panel.y_desc)
        .label_style(("sans-serif", 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(err)?;
    for (i, line) in panel.lines.iter().enumerate() {
        let c = colour(i);
        let width = if line.bold { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                c.stroke_width(width),
            ))
            .map_err(err)?
            .label(&line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &Figure) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let rows = figure.panels.len().div_ceil(figure.columns.max(1));
    let areas = root.split_evenly((rows, figure.columns.max(1)));
    for (area, panel) in areas.iter().zip(&figure.panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

impl Figure {
    fn size(&self) -> (u32, u32) {
        let columns = self.columns.max(1);
        let rows = self.panels.len().div_ceil(columns).max(1);
        (
            self.panel_size.0 * u32::try_from(columns).unwrap_or(1),
            self.panel_size.1 * u32::try_from(rows).unwrap_or(1),
        )
    }

    /// Writes the figure as `<stem>.svg` and `<stem>.png`.
    ///
    /// # Errors
    ///
    /// If a file cannot be written.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<()> {
        register_font();
        let size = self.size();
        let svg = dir.join(format!("{stem}.svg"));
        draw(SVGBackend::new(&svg, size).into_drawing_area(), self)?;
        let png = dir.join(format!("{stem}.png"));
        draw(BitMapBackend::new(&png, size).into_drawing_area(), self)?;
        Ok(())
    }
}
