#!/usr/bin/env bash
# One call on a briefly lent GPU machine, in this order (the most wanted first):
#   1. host time of an eager call, split (bench/host_overhead.py -> host.csv, host_profile.txt);
#   2. the suite (SUITE, default `roofline`) timed with the shipped (model-ranked) configs
#      (results.csv, env.json, bench.log), budget BENCH_S;
#   3. latency-hiding and L1-reuse A/B of the tensor-core forms (bench/pipeline_ab.py ->
#      pipeline_ab.csv: each block in its picked config against the same tile unpipelined /
#      unrolling flipped / input in L1-kept 8-byte copies (nhwc), with the kernel-row prefetch
#      flipped (nhwc_fma), and the two-kernel call's nhwc_gemm primary with TAPS_L1 flipped,
#      unpipelined, and TAPS_L1 flipped at 2 stages; AB_FORMS narrows the forms, CASES the layers);
#   4. every candidate config of the suite's channels_last bf16 problems timed (tune.log and
#      tuning-timed.json, "timed" per problem, which `igc-lab inspect --validate` scores the
#      cost model's first choices against), budget TUNE_S;
#   5. the compiled test suite in parallel (tests.log, failures.txt, junit.xml), budget TEST_S.
# Everything goes under $OUT: `log` (streamed) and `results.tgz`, re-packed after each step so
# that a call cut off keeps what finished.
#
#   OUT=runs/lease bench/lease.sh [BENCH_S=240] [TEST_S=150] [PROVIDERS]   (the budgets also as variables)
#   (TUNE_S=120, AB_S=200; TESTS="tests/x.py::y ..." runs those tests only; WORKERS=16 xdist workers;
#   PRECOMPILED=runs/precompiled-roofline.tgz: kernels compiled beforehand on a CPU by
#   bench/precompile.py build, carried along, installed into the Triton cache first;
#   SUITE=paper-layers DTYPES=bf16 LAYOUTS=channels_last CASES='igc-*': another suite, or part of
#   one (issue 12's acceptance is on paper-layers' IGC layers; a cut-off run continues with
#   RESUME=DIR, the results folder of the run before, unpacked from its results.tgz);
#   PASSES="bf16/channels_last/PROVIDERS/200 fp32/nchw/PROVIDERS/90 ...": step 2 as several bench
#   runs into one results folder, each DTYPES/LAYOUTS/PROVIDERS/BUDGET_S, the most wanted first, so
#   that a budget cut loses the least wanted (default: one pass of DTYPES, LAYOUTS, PROVIDERS,
#   BENCH_S); STEPS="host bench ab tune tests" (the default) names the steps to run, in its order)
#
# Autotuning is off in 2 (the first call would otherwise time 3 configs per problem, seconds
# each) and so are NVML energy rows (>= 0.5 s per measurement); the bench stops itself within
# its budget, the tuning and the tests are killed at theirs (their logs keep what finished).
set -u
OUT=${OUT:-runs/lease}
SUITE=${SUITE:-roofline}
BENCH_S=${1:-${BENCH_S:-240}}
TEST_S=${2:-${TEST_S:-150}}
PROVIDERS=${3:-cudnn-regular,cudnn-igc-eager,cudnn-igc-folded,cudnn-igc-folded+graph,triton-igc,triton-igc-fused,triton-igc-fused+graph,triton-igc-module,triton-igc-module+graph,cudnn-grouped,triton-grouped}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 IGC_LAB_ENERGY=off IGC_TRITON_AUTOTUNE=off
mkdir -p "$OUT"
W=$(mktemp -d)

pack() { tar -czf "$OUT/results.tgz" -C "$W" . ; }
step() { echo "== $(date +%T) $*"; }

# Each step; run in STEPS' order below.
run_host() {
  step "host time per eager call"
  timeout 120 $PY bench/host_overhead.py --csv "$W/host.csv" --profile "$W/host_profile.txt"
  
}

run_bench() {
  resume=${RESUME:+--resume}
  for pass in ${PASSES:-"${DTYPES:-}/${LAYOUTS:-}/$PROVIDERS/$BENCH_S"}; do
    IFS=/ read -r p_dtypes p_layouts p_providers p_budget <<< "$pass"
    step "bench $SUITE ${CASES:+cases $CASES }${p_dtypes:-every dtype} ${p_layouts:-every layout} (budget ${p_budget} s)"
    timeout $((p_budget + 90)) $PY -m igc_triton.cli bench --suite "$SUITE" --out "$W" --device "${DEVICE:-cuda}" \
      --budget-s "$p_budget" --no-report --providers "$p_providers" ${p_dtypes:+--dtype "$p_dtypes"} \
      ${p_layouts:+--layout "$p_layouts"} ${CASES:+--cases "$CASES"} $resume >> "$W/bench.log" 2>&1
    echo "bench exit $?"; tail -3 "$W/bench.log"
    # Folders the runs added: kernels compiled here (precompiled entries missed) and launchers (always built here).
    [ -n "${PRE:-}" ] && echo "Triton cache: $(( $(ls "$TRITON_CACHE_DIR" | wc -l) - PRE )) folders added so far (kernels missed, launchers)"
    resume=--resume  # the next pass adds to this one's results
    pack
  done
  $PY - "$W/results.csv" <<'PYEOF'
import sys
import pandas as pd
r = pd.read_csv(sys.argv[1])
r = r[r["kind"] == "layer"]
us = r[r.metric == "latency_ms"].assign(value=lambda d: d.value.astype(float) * 1e3)
t = us.pivot_table(index=["case", "dtype", "layout"], columns="provider", values="value", sort=False)
t.columns = [c.replace("cudnn-", "c-").replace("triton-", "t-") for c in t.columns]
bw = r[(r.metric == "pct_copy_bw") & (r.provider == "triton-igc-fused")]
t["fused %copy"] = bw.pivot_table(index=["case", "dtype", "layout"], values="value", aggfunc="first",
                                  sort=False)["value"].astype(float) if len(bw) else float("nan")
bad = r[(r.metric == "status") & r.status.isin(["wrong", "error"])]
pd.set_option("display.width", 250, "display.max_columns", 20, "display.max_rows", 100)
print("median us\n", t.round(1).to_string())
print(bad[["case", "provider", "dtype", "layout", "status", "detail"]].to_string() if len(bad) else "no wrong/error rows")
PYEOF
  
}

run_ab() {
  step "tensor-core forms: latency-hiding and L1-reuse A/B"
  timeout ${AB_S:-200} $PY bench/pipeline_ab.py --suite "$SUITE" --csv "$W/pipeline_ab.csv" --device "${DEVICE:-cuda}" \
    ${AB_FORMS:+--forms "$AB_FORMS"} ${CASES:+--cases "$CASES"} $( [ "${DEVICE:-cuda}" = cpu ] && echo --dtype fp16 )
  echo "pipeline_ab exit $?"
  pack
  
}

run_tune() {
  step "every candidate config timed, $SUITE suite, channels_last bf16 (budget ${TUNE_S:-120} s)"
  # The measured ranking of each problem's configs ("timed" in the tuning cache, kept as it
  # goes): what the cost model's ranking, the autotuner's default, is checked against.
  IGC_TRITON_CACHE_DIR="$W/cache" timeout "${TUNE_S:-120}" $PY -m igc_triton.cli tune --suite "$SUITE" \
    --layout channels_last --dtype bf16 --force > "$W/tune.log" 2>&1
  echo "tune exit $? (124: stopped at its budget)"; tail -3 "$W/tune.log"
  # Where `igc-lab inspect --validate RUN` scores the model's first choice against them.
  cp "$W"/cache/tuning/*.json "$W/tuning-timed.json" 2>/dev/null
  pack
  
}

run_tests() {
  step "compiled tests (budget ${TEST_S} s)"
  PER_TEST=$($PY -c "import pytest_timeout" 2>/dev/null && echo --timeout=300)
  IGC_TEST_FAILURES="$W/failures.txt" timeout "$TEST_S" $PY -m pytest -v -n "${WORKERS:-16}" -p no:cacheprovider $PER_TEST -rfE \
    --tb=short --junitxml="$W/junit.xml" ${TESTS:-tests} > "$W/tests.log" 2>&1
  echo "pytest exit $? (124: stopped at its budget)"
  grep -E "^(FAILED|ERROR) " "$W/tests.log" | sort -u | head -40
  echo "passed: $(grep -c ' PASSED ' "$W/tests.log"), failed: $(grep -c ' FAILED ' "$W/tests.log"),"\
       "errors: $(grep -c ' ERROR ' "$W/tests.log")"
  tail -2 "$W/tests.log"
  pack
  
}

{
  step install
  $PY -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -3
  $PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
  if [ -n "${PRECOMPILED:-}" ]; then
    export TRITON_CACHE_DIR=$(mktemp -d)  # not under $W: results.tgz packs $W
    $PY bench/precompile.py install "$PRECOMPILED" --dir "$TRITON_CACHE_DIR"
    PRE=$(ls "$TRITON_CACHE_DIR" | wc -l)
  fi

  # The run before first, so that what this run measures (host.csv, logs) replaces its files.
  if [ -n "${RESUME:-}" ]; then cp -r "$RESUME"/. "$W"/; fi

  # The steps in the order STEPS names them (default: host bench ab tune tests).
  for s in ${STEPS:-host bench ab tune tests}; do
    case "$s" in
      host | bench | ab | tune | tests) "run_$s" ;;
      *) echo "unknown step $s (steps: host bench ab tune tests)" ;;
    esac
  done
  step done
} 2>&1 | tee "$OUT/log"
