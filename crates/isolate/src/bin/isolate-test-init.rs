fn main() {
    isolate::init_main()
}
