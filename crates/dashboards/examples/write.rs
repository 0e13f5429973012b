//! Writes every dashboard to deploy/dashboards/<file>.json and to the Helm
//! chart's copy, deploy/helm/ward/dashboards/<file>.json (a chart may not
//! reach outside its folder, and helm logs every symbolic link it follows):
//!
//!     cargo run -p ward-dashboards --example write

fn main() -> std::io::Result<()> {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    for dir in ward_dashboards::OUTPUT_DIRS {
        let dir = deploy.join(dir);
        std::fs::create_dir_all(&dir)?;
        for board in ward_dashboards::all() {
            let path = dir.join(format!("{}.json", board.file));
            std::fs::write(&path, board.render())?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
