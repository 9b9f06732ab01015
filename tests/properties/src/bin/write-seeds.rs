//! Writes each property's seeds into `<dir>/<property>/` (the corpus the
//! fuzz targets start from): `write-seeds fuzz/corpus`.

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: write-seeds <corpus directory>");
        std::process::exit(2);
    };
    for (name, _) in inspraak_properties::PROPERTIES {
        let at = std::path::Path::new(&dir).join(name);
        if let Err(error) = std::fs::create_dir_all(&at) {
            eprintln!("write-seeds: {}: {error}", at.display());
            std::process::exit(1);
        }
        for (i, seed) in inspraak_properties::seeds::of(name).iter().enumerate() {
            let file = at.join(format!("seed-{i}"));
            if let Err(error) = std::fs::write(&file, seed) {
                eprintln!("write-seeds: {}: {error}", file.display());
                std::process::exit(1);
            }
        }
    }
}
