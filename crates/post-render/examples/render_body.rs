//! Renders N distinct benchmark-like post bodies (the ~2 KB bodies `bench/lib.sh`'s
//! `seed` writes) through [`post_render::render`]: what posts-service spends rendering
//! a post when it is written or re-rendered.
//!
//! Instructions per uncached render, with valgrind's callgrind (the difference of two
//! runs leaves out start-up and the one warm-up render):
//!
//! ```text
//! cargo build --release -p post-render --example render_body
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/render_body 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/render_body 200
//! ```
//!
//! (total of the second run minus total of the first, divided by 200).

use std::hint::black_box;

use post_render::render;

/// The body of post `seq`, as `bench/lib.sh` seeds it.
fn bench_body(seq: u64) -> String {
    format!(
        "## Part {seq}\n\n{}\n\n- one point\n- another point\n\n```\nfn main() {{}}\n```\n\n{}",
        "Posts are written in *Markdown* and rendered on the **server**, with \
         [links](https://example.com/) and `code`. "
            .repeat(14),
        "A closing paragraph that carries the post to its realistic size. ".repeat(7),
    )
}

fn main() {
    let count: u64 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .expect("the argument is how many bodies to render"),
        None => 200,
    };
    // Warm-up: lazily built statics (the sanitiser) are set up here, so a run with 0
    // bodies costs everything but the renders.
    let mut bytes = render(&bench_body(0)).html.len();
    for seq in 1..=count {
        bytes += black_box(render(black_box(&bench_body(seq)))).html.len();
    }
    println!("{count} bodies rendered, {bytes} bytes of HTML");
}
