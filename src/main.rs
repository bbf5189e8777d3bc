fn main() {
    std::process::exit(imgscan::cli::run());
}
