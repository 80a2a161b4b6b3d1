//! Prints the data its build script fetched, or says it is the snapshot.

const VEHICLES: &str = include_str!(concat!(env!("OUT_DIR"), "/vehicles.json"));

fn main() {
    let source = if cfg!(vehicles_snapshot) {
        "snapshot"
    } else {
        "fetched"
    };
    println!("{source}: {VEHICLES}");
}
