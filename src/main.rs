fn main() {
    std::process::exit(ferrolite::cli::main());
}
