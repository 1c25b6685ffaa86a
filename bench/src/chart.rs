//! The sweep chart: throughput and p99 latency against object size, one line per
//! concurrency level, as a PNG.
//!
//! Owns: drawing with `plotters` into an RGB buffer and encoding it with `png`, and finding
//! a font. Text needs a TrueType font: the first of `TESSERA_BENCH_FONT` and a few usual
//! system paths (DejaVu Sans, Liberation Sans) that exists is loaded once and kept for the
//! life of the process. Must not: ship or download fonts. Invariant: without a font the
//! chart is still drawn — lines and points only, no labels — rather than failing.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;
const FONT_FAMILY: &str = "sans-serif";
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];
/// Largest font file read (DejaVu Sans is about 750 KiB).
const FONT_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// One line: a label and (object size in bytes, value) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(u64, f64)>,
}

pub struct ChartData {
    pub title: String,
    pub throughput_mib_s: Vec<Series>,
    pub p99_latency_ms: Vec<Series>,
}

/// Loads and registers a system font once; true when text can be drawn.
pub fn fonts_available() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let from_env = std::env::var("TESSERA_BENCH_FONT").ok();
        let candidates = from_env
            .iter()
            .map(String::as_str)
            .chain(FONT_CANDIDATES.iter().copied());
        for path in candidates {
            let fits = std::fs::metadata(path)
                .is_ok_and(|meta| meta.is_file() && meta.len() <= FONT_BYTES_MAX);
            let Some(bytes) = fits.then(|| std::fs::read(path).ok()).flatten() else {
                continue;
            };
            // plotters keeps registered fonts for the life of the process; leaking the one
            // font file we load is the intended way to give it `'static` bytes.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
        false
    })
}

/// Object size label for the x axis: `4KiB`, `1MiB`.
pub fn size_label(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// Draws `data` into a PNG at `path`; `with_text` false draws no labels at all.
pub fn draw_png(path: &Path, data: &ChartData, with_text: bool) -> Result<(), String> {
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|err| err.to_string())?;
        let root = if with_text {
            root.titled(&data.title, (FONT_FAMILY, 26))
                .map_err(|err| err.to_string())?
        } else {
            root
        };
        let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
        draw_panel(
            &top,
            "Throughput (MiB/s)",
            &data.throughput_mib_s,
            with_text,
        )?;
        draw_panel(&bottom, "p99 latency (ms)", &data.p99_latency_ms, with_text)?;
        root.present().map_err(|err| err.to_string())?;
    }
    let file = std::fs::File::create(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|err| format!("{}: {err}", path.display()))?;
    writer
        .write_image_data(&rgb)
        .map_err(|err| format!("{}: {err}", path.display()))?;
    writer
        .finish()
        .map_err(|err| format!("{}: {err}", path.display()))
}

/// The axis ranges: log2 of the object size (with a margin) and 0 to 110% of the largest value.
fn ranges(series: &[Series]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let sizes = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(size, _)| *size))
        .filter(|s| *s > 0);
    let (min_size, max_size) = sizes.fold((u64::MAX, 1u64), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let min_size = min_size.min(max_size);
    let x_range = (min_size as f64).log2() - 0.3..(max_size as f64).log2() + 0.3;
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, v)| *v))
        .fold(0.0f64, f64::max);
    (x_range, 0.0..if y_max > 0.0 { y_max * 1.1 } else { 1.0 })
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
    with_text: bool,
) -> Result<(), String> {
    let (x_range, y_range) = ranges(series);
    let mut builder = ChartBuilder::on(area);
    builder.margin(20);
    if with_text {
        builder
            .caption(title, (FONT_FAMILY, 20))
            .x_label_area_size(40)
            .y_label_area_size(80);
    }
    let mut chart = builder
        .build_cartesian_2d(x_range, y_range)
        .map_err(|err| err.to_string())?;
    let mut mesh = chart.configure_mesh();
    if with_text {
        mesh.x_desc("object size")
            .y_desc(title)
            .x_label_formatter(&|x| size_label(2f64.powf(*x).round() as u64))
            .label_style((FONT_FAMILY, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|err| err.to_string())?;
    for (index, line) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .filter(|(size, _)| *size > 0)
            .map(|(size, v)| ((*size as f64).log2(), *v))
            .collect();
        let drawn = chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|err| err.to_string())?;
        if with_text {
            drawn.label(line.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        chart
            .draw_series(
                points
                    .iter()
                    .map(|point| Circle::new(*point, 4, color.filled())),
            )
            .map_err(|err| err.to_string())?;
    }
    if with_text && !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT_FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChartData {
        let series = |scale: f64| {
            (0..3)
                .map(|c| Series {
                    label: format!("concurrency {}", 1 << (2 * c)),
                    points: [4096u64, 65536, 1 << 20]
                        .iter()
                        .map(|&s| (s, scale * (c + 1) as f64 * (s as f64).log2()))
                        .collect(),
                })
                .collect()
        };
        ChartData {
            title: "GET sweep".to_string(),
            throughput_mib_s: series(10.0),
            p99_latency_ms: series(0.5),
        }
    }

    fn check_png(path: &Path) {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("png exists"));
        let mut reader = decoder.read_info().expect("valid png");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).expect("one frame");
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert!(pixels.iter().any(|&p| p < 128), "something dark was drawn");
    }

    #[test]
    fn draws_without_fonts() {
        let dir = std::env::temp_dir().join(format!("tessera-bench-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("plain.png");
        draw_png(&path, &sample(), false).expect("drawn");
        check_png(&path);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn draws_with_text_when_a_font_exists() {
        if !fonts_available() {
            eprintln!("SKIPPED: no TrueType font found; the text-free chart is tested instead");
            return;
        }
        let dir =
            std::env::temp_dir().join(format!("tessera-bench-chart-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("text.png");
        draw_png(&path, &sample(), true).expect("drawn");
        check_png(&path);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn size_labels() {
        assert_eq!(size_label(4096), "4KiB");
        assert_eq!(size_label(1 << 20), "1MiB");
        assert_eq!(size_label(1536), "1.5KiB");
        assert_eq!(size_label(100), "100B");
    }
}
