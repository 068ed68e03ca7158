fn main() {
    std::process::exit(mcpcell::cli::main());
}
