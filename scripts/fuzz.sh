#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers with AFL++ through cargo-afl, on the stable
# toolchain: each target of fuzz/src/targets.rs (ndjson, csv, config, bundle) runs
# from its seed corpus (fuzz/corpus/, the repository's real files) for a fixed budget,
# one target after another, and the script prints executions and crashes per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 s, every target)
#   BANDIT_FUZZ_EXECS=10000000 scripts/fuzz.sh 3600     (stop a target at 10 M runs)
#
# Crash and hang inputs are left in fuzz/out/TARGET/default/{crashes,hangs} (or under
# $BANDIT_FUZZ_OUT instead of fuzz/out); a fixed
# crash's input goes to fuzz/regressions/TARGET/, which `cargo test` runs (as it runs
# the corpus) through tests/it/fuzz_regression.rs. Exit status 1 if any target crashed.
#
# Needs cargo-afl (`cargo install cargo-afl --locked`: it builds AFL++ from its crate
# with make and a C compiler); installed here when missing. The build instruments only
# this crate (fuzz/rustc-wrapper.sh says why) and reuses the dev build's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ndjson csv config bundle)

if ! command -v cargo-afl >/dev/null 2>&1; then
    echo "installing cargo-afl (builds AFL++)"
    cargo install cargo-afl --locked --version 0.18.2
fi
rustc_version=$(rustc -V | cut -d' ' -f2)
runtime=$(ls "${XDG_DATA_HOME:-$HOME/.local/share}"/afl.rs/rustc-"$rustc_version"-*/afl.rs-*/afl-llvm/afl-compiler-rt.o 2>/dev/null | head -1 || true)
if [ -z "$runtime" ]; then
    # A cargo-afl installed under another rustc: build AFL++'s runtime for this one.
    cargo afl config --build --force
    runtime=$(ls "${XDG_DATA_HOME:-$HOME/.local/share}"/afl.rs/rustc-"$rustc_version"-*/afl.rs-*/afl-llvm/afl-compiler-rt.o | head -1)
fi

export BANDIT_AFL_RUNTIME=$runtime
# cargo-afl's own afl-fuzz, run directly: `cargo afl fuzz` adds `-c0` (CMPLOG), which
# needs LLVM plugins built for the nightly toolchain.
afl_fuzz=$(dirname "$runtime")/../afl/bin/afl-fuzz
RUSTC_WRAPPER="$PWD/fuzz/rustc-wrapper.sh" cargo build -p bandit-engine-fuzz
# A copy, so a rebuild during a long campaign does not swap the binary under AFL.
out_root=${BANDIT_FUZZ_OUT:-$PWD/fuzz/out}
mkdir -p "$out_root"
bin=$out_root/bandit-engine-fuzz
cp "${CARGO_TARGET_DIR:-$PWD/target}/debug/bandit-engine-fuzz" "$bin"

# No UI (logs instead), no CPU-governor or core-pattern checks (a container may not
# allow changing them: crashes are still caught, as signals in the forkserver).
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1
# One thread each for rayon and polars: the target's work is small, and a thread pool's
# scheduling would only add noise to the coverage AFL sees.
export RAYON_NUM_THREADS=1 POLARS_MAX_THREADS=1
crashed=0
summary=()
for t in "${targets[@]}"; do
    out=$out_root/$t
    rm -rf "$out"
    mkdir -p "$out"
    limit=()
    [ -n "${BANDIT_FUZZ_EXECS:-}" ] && limit=(-E "$BANDIT_FUZZ_EXECS")
    echo "== $t: up to $budget s"
    "$afl_fuzz" -i "fuzz/corpus/$t" -o "$out" -V "$budget" "${limit[@]}" -t 2000 \
        -- "$bin" "$t" >"$out/afl.log" 2>&1 || { tail -20 "$out/afl.log"; exit 2; }
    stats=$out/default/fuzzer_stats
    execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
    crashes=$(awk -F' *: *' '$1=="saved_crashes"{print $2}' "$stats")
    hangs=$(awk -F' *: *' '$1=="saved_hangs"{print $2}' "$stats")
    secs=$(awk -F' *: *' '$1=="run_time"{print $2}' "$stats")
    paths=$(awk -F' *: *' '$1=="corpus_count"{print $2}' "$stats")
    summary+=("$(printf '%-7s %12s execs in %5s s, %4s corpus, %s crashes, %s hangs' "$t" "$execs" "$secs" "$paths" "$crashes" "$hangs")")
    [ "$crashes" -eq 0 ] || crashed=1
done
printf '%s\n' "${summary[@]}"
exit $crashed
