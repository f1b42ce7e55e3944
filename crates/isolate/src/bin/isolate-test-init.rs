//! A minimal init binary for the integration tests: it only calls
//! [`isolate::init_main`], as `mydocker init` does.

fn main() {
    isolate::init_main()
}
