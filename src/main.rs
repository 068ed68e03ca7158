fn main() {
    std::process::exit(mcpcell::app::main());
}
