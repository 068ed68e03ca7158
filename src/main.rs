fn main() {
    std::process::exit(mcpjail::cli::main());
}
