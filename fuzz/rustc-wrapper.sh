#!/usr/bin/env bash
# RUSTC_WRAPPER for scripts/fuzz.sh: compiles the library (built with its `fuzzing`
# feature) and the fuzz binary with the coverage instrumentation `cargo afl build`
# uses (its flags, from cargo-afl 0.18), and every dependency as a plain dev build.
#
# Why not `cargo afl build` itself: it puts these flags in RUSTFLAGS, so every crate is
# instrumented, polars included, and polars is rebuilt from scratch (tens of minutes on
# two cores, on every CI run). Coverage of our readers is what guides the fuzzer; the
# dependencies' own fuzzing is theirs. The flags are added here, out of cargo's sight,
# so the dependencies stay the ones `cargo test` built, and the `fuzzing` feature keeps
# the instrumented library apart from the ordinary one in the target directory.
set -euo pipefail
rustc=$1
shift
case " $* " in
*" --crate-name bandit_engine_fuzz "* | *" --crate-name bandit_engine "*'feature="fuzzing"'*)
    # BANDIT_FUZZ_OPT_LEVEL=0 (CI's short run) builds in a third of the time; a long
    # campaign wants 2 (cargo afl uses 3). cargo does not see these flags: after
    # changing it, touch a source file so the library is rebuilt.
    opt=${BANDIT_FUZZ_OPT_LEVEL:-2}
    flags=(-C debug-assertions -C overflow-checks -C "opt-level=$opt")
    # One codegen unit, as cargo afl builds (it avoids link errors of sancov with
    # several units in optimised builds); unoptimised builds keep cargo's units.
    [ "$opt" = 0 ] || flags+=(-C codegen-units=1)
    flags+=(
        -C passes=sancov-module
        -C llvm-args=-sanitizer-coverage-level=3
        -C llvm-args=-sanitizer-coverage-trace-pc-guard
        -C llvm-args=-sanitizer-coverage-prune-blocks=0
        -C llvm-args=-sanitizer-coverage-trace-compares
        --cfg fuzzing
    )
    case " $* " in
    *" --crate-name bandit_engine_fuzz "*) flags+=(-C "link-arg=${BANDIT_AFL_RUNTIME:?set by scripts/fuzz.sh}") ;;
    esac
    exec "$rustc" "$@" "${flags[@]}"
    ;;
*) exec "$rustc" "$@" ;;
esac
