//! Writes every dashboard to deploy/dashboards/<file>.json (the Helm chart
//! reads the same folder through its `dashboards` link):
//!
//!     cargo run -p ward-dashboards --example write

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/dashboards");
    std::fs::create_dir_all(&dir)?;
    for board in ward_dashboards::all() {
        let path = dir.join(format!("{}.json", board.file));
        std::fs::write(&path, board.render())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
