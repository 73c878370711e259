fn main() {
    println!("ferrolite: not ready yet");
}
