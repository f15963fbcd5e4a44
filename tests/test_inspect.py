"""igc-lab inspect: launches recorded, compiled for sm_90 and counted exactly; the cost model
against the measured H200 run; the command line. No GPU needed (the kernels are compiled
for sm_90 on this machine and one program of each is traced under Triton's interpreter)."""

import gzip
import json
import math
import os
import sys

import pytest
import torch

import igc_triton
import igc_triton.lab.inspect as ii
from igc_triton import cli
from igc_triton.lab.inspect import capture, devices, model, validate
from igc_triton.launch import autotune

sys.path.insert(0, os.path.dirname(__file__))
import planted_kernels as pk  # noqa: E402

H200_RUN = os.path.join(os.path.dirname(__file__), "data", "h200-2026-11-26")
H100_RUN = os.path.join(os.path.dirname(__file__), "data", "h100-2026-11-26")
PAPER_LAYERS_RUN = os.path.join(os.path.dirname(__file__), "..", "reports", "2026-11-27-h200-paper-layers")
TERMS = {"issue", "alu", "imad", "fp32", "conversion", "tensor", "l1", "dram"}


# --- planted kernels: counts known in advance ----------------------------------------------------

def _axpy(x, y, out):
    pk.axpy_kernel[(x.numel() // 1024,)](x, y, out, 2.0, BLOCK=1024, num_warps=4)
    return out


def _rows(x, w, out, K):
    pk.weighted_rows_kernel[(x.shape[1] // 256,)](x, w, out, K, x.shape[1], BLOCK=256, num_warps=4)
    return out


def _two_tiles(x, out, K):
    pk.two_tiles_kernel[(x.shape[1] // 1024,)](x, out, K, x.shape[1], BLOCK=1024, num_warps=4)
    return out


def _spill(x, out):
    pk.spilling_kernel[(1,)](x, out, BLOCK=128, num_warps=1)
    return out


@pytest.fixture(scope="module")
def planted():
    calls = [("axpy", *ii.capture_call(_axpy, torch.empty(64 * 1024), torch.empty(64 * 1024),
                                       torch.empty(64 * 1024))),
             ("rows", *ii.capture_call(_rows, torch.empty(37, 4096), torch.empty(37), torch.empty(4096), 37)),
             ("spill", *ii.capture_call(_spill, torch.empty(128 * 128), torch.empty(128 * 128))),
             ("two tiles", *ii.capture_call(_two_tiles, torch.empty(29, 4096), torch.empty(2 * 4096), 29))]
    result = ii.analyze_calls(calls, "h100")
    return {c.label: c.reports[0].row() for c in result.calls}


def test_planted_vector_kernel_is_counted_exactly(planted):
    row = planted["axpy"]
    assert not row["error"] and not row["spills"]
    # 8 fp32 per thread: two 128-bit loads per operand, one FMA per element, two 128-bit stores.
    assert row["fp32_per_out"] == 1.0
    assert row["ldg128_per_out"] == 0.5
    assert all(row[f"ldg{b}_per_out"] == 0 for b in (8, 16, 32, 64))
    assert row["stg128_per_out"] == 0.25
    assert row["ldg_wide_share"] == 1.0
    # A warp's 128-bit access: 32 lanes x 16 contiguous bytes = 4 lines, 16 sectors.
    assert row["ld_lines_per_instr"] == 4.0 and row["ld_sectors_per_instr"] == 16.0
    assert row["st_lines_per_instr"] == 4.0
    assert row["bound"] in TERMS and 0 < row["predicted_us"] < math.inf


def test_planted_loop_trip_count_comes_from_the_traced_program(planted):
    row = planted["rows"]
    assert not row["error"] and not row["unsolved_loops"]
    # K = 37 (a runtime value) multiply-adds per output, whatever the unrolling made of the loop.
    assert row["fp32_per_out"] == 37.0
    # Bytes loaded per output: the row element (4 B) and, per thread of 2 outputs, w[k] (4 B).
    loaded = sum(row[f"ldg{b}_per_out"] * b / 8 for b in (8, 16, 32, 64, 128))
    assert loaded == 37 * 4 + 37 * 4 / 2


def _tiled_rows(x, out, flat):
    rows, cols = x.shape
    tiles = out.shape[1]
    grid = (rows // 64 * tiles,) if flat else (rows // 64, tiles)
    pk.tiled_rows_kernel[grid](x, out, TILES=tiles, COLS=cols, BLOCK=64, FLAT=flat, num_warps=4)
    return out


def test_rereads_far_apart_in_launch_order_are_read_from_dram_again():
    """Four programs per block of rows read the same 64 KB (x: 64 MB, past the 50 MB L2). With the
    four on the second grid axis, the 1024 programs launched between two of them move 64 MB: the
    rows have left L2, and x comes from DRAM four times. With them next to each other on one axis,
    once."""
    x, out = torch.empty(65536, 256), torch.empty(65536, 4)
    calls = [(f"flat={flat}", *ii.capture_call(_tiled_rows, x, out, flat)) for flat in (False, True)]
    apart, adjacent = (c.reports[0] for c in ii.analyze_calls(calls, "h100").calls)
    x_bytes, out_bytes = x.numel() * 4, out.numel() * 4
    assert apart.trace.rereads[1]["overlap"] == {next(iter(apart.trace.read)): 1.0}
    assert apart.trace.rereads[1]["distance"] == 1024 and apart.trace.footprint
    assert apart.dram_bytes == 4 * x_bytes + out_bytes and apart.once_bytes == x_bytes + out_bytes
    assert not adjacent.trace.rereads and adjacent.dram_bytes == adjacent.once_bytes == x_bytes + out_bytes
    ratio = (4 * x_bytes + out_bytes) / (x_bytes + out_bytes)
    assert apart.prediction.terms["dram"] == pytest.approx(ratio * adjacent.prediction.terms["dram"])
    # Below the L2 (a GPU with four times the L2 of an H100) the same sweep stays there: once.
    from igc_triton.lab.inspect import analyze
    assert analyze.dram_bytes(apart.launch, apart.trace, 4 * devices.get("h100").l2_bytes) == x_bytes + out_bytes


def test_one_source_line_on_two_tiles_is_counted_with_each_tiles_layout(planted):
    """A helper's load run on two tile shapes (two compiled ops at one source location, each with
    its layout; the nhwc_fma kernel's two channel chunks): each traced execution is mapped through
    its own tile's layout, so the loop's 29 passes are solved from the bytes every thread loads
    (the second tile's executions once took the first's, or a guess)."""
    row = planted["two tiles"]
    assert not row["error"] and not row["unsolved_loops"], row
    # Per output (1024 + 256 per program, 128 threads): 29 passes of two 128-bit loads and one
    # 64-bit load a thread, one add per element (the loop unrolled by the compiler or not).
    assert row["ldg128_per_out"] == pytest.approx(29 * 2 * 128 / 1280)
    assert row["ldg64_per_out"] == pytest.approx(29 * 128 / 1280)
    assert row["fp32_per_out"] == pytest.approx(29)
    # A warp's 128-bit load spans 4 lines, its 64-bit one 2 (the small tile's own layout).
    assert row["ld_lines_per_instr"] == pytest.approx((2 * 4 + 2) / 3)


def test_a_spilling_config_is_reported_as_spilling(planted):
    row = planted["spill"]
    assert row["spills"] and row["spill_bytes"] > 0
    assert row["local_per_out"] > 0  # the spill traffic is in the counted instructions
    from igc_triton.lab.inspect import render
    assert render._cells(row)[3] == str(row["spill_bytes"])


# --- every forward kernel, dtype and layout ------------------------------------------------------

# op, in/out channels, L, kernel: which kernel each reaches is asserted below. In channels_last
# the fused blocks take an nhwc form instead: M = 2 the nhwc_fma one (and its weight layout
# kernel), M = 16 and M = 8 the nhwc one, C = 320 with L = 32 the nhwc_pair form (its primary's
# 10 channels per group joined into super-groups, their weight laid out: 10 channels are no
# aligned vector to build the tile from in the kernel), and so
# does C = 48 with L = 2 (groups of 24: the nhwc_gemm primary, the CUDA-core nhwc secondary; the
# tc form is left for one-pixel images, so its case is one); the grouped conv with groups of 2
# channels the nhwc one, with groups of 16 the nhwc_gemm one; the secondary with L = 16 the nhwc
# one, with L = 4 the nhwc_fma one.
NHWC_KERNELS = ["igc_block_nhwc"]
NHWC_FMA_KERNELS = ["igc_block_nhwc_fma_weights_kernel", "igc_block_nhwc_fma"]
NHWC_CONV_KERNELS = ["grouped_conv2d_nhwc_weights_kernel", "grouped_conv2d_fwd_nhwc"]
FORWARD = [("grouped_conv2d", 16, 8, "grouped_conv2d_fwd_fma"), ("grouped_conv2d", 32, 2, "grouped_conv2d_fwd_gemm"),
           ("igc_secondary", 16, 4, "igc_secondary_fwd"), ("igc_secondary", 32, 16, "igc_secondary_fwd_gemm"),
           ("igc_block", 12, 6, "igc_block_fwd"), ("igc_block", 320, 32, "igc_block_fwd_wide"),
           ("igc_block", 48, 2, "igc_block_fwd_tc"), ("igc_block", 64, 8, "igc_block_nhwc"),
           ("igc_block", 48, 24, "igc_block_nhwc_fma")]
DOT_KERNELS = {"grouped_conv2d_fwd_gemm", "igc_secondary_fwd_gemm", "igc_block_fwd", "igc_block_fwd_wide",
               "igc_block_fwd_tc", "igc_block_nhwc", "igc_block_nhwc_fma", "igc_secondary_fwd_nhwc",
               "grouped_conv2d_fwd_nhwc_gemm"}
# The generic fused forms get blocks no nhwc form takes: C % 8 != 0 (C=12), M not dividing 64 (M=24).
CHANNELS_LAST = {"igc_block_nhwc": NHWC_KERNELS, "igc_block_nhwc_fma": NHWC_FMA_KERNELS,
                 "grouped_conv2d_fwd_fma": NHWC_CONV_KERNELS, "igc_secondary_fwd_gemm": ["igc_secondary_fwd_nhwc"],
                 "igc_secondary_fwd": ["igc_secondary_fwd_nhwc_fma"],
                 "grouped_conv2d_fwd_gemm": ["grouped_conv2d_fwd_nhwc_gemm"],
                 "igc_block_fwd_wide": ["grouped_conv2d_nhwc_gemm_weights_kernel", "grouped_conv2d_fwd_nhwc_gemm",
                                        "igc_secondary_fwd_nhwc"]}


def expected_kernels(kernel, layout):
    if kernel in ("igc_block_nhwc", "igc_block_nhwc_fma", "igc_block_fwd_wide"):  # NCHW too: on a channels_last copy
        return CHANNELS_LAST[kernel]
    if layout == "channels_last" and kernel in CHANNELS_LAST:
        return CHANNELS_LAST[kernel]
    return [kernel]


@pytest.fixture(scope="module")
def forward():
    from igc_triton.lab.inspect import calls
    captured = []
    for op, c, L, kernel in FORWARD:
        for dt in ("fp32", "fp16", "bf16"):
            for lay in ("nchw", "channels_last"):
                hw = 1 if kernel == "igc_block_fwd_tc" else 8
                label, fn, args, kw = calls.op_call(op, calls.Shape(1, c, c, hw, L), dt, lay)
                captured.append((f"{kernel} {dt} {lay}", *ii.capture_call(fn, *args, label=label, **kw)))
    return ii.analyze_calls(captured, "h100")


def test_every_forward_kernel_compiles_traces_and_is_predicted_in_every_dtype_and_layout(forward):
    assert len(forward.calls) == len(FORWARD) * 6
    for call in forward.calls:
        kernel, _, layout = call.label.split()
        kernels = expected_kernels(kernel, layout)
        assert [r.launch.kernel for r in call.reports] == kernels, call.label
        kernel = kernels[-1]
        row = call.reports[-1].row()
        assert not row["error"], (call.label, row["error"])
        assert row["regs"] > 0 and row["blocks_per_sm"] > 0, call.label
        assert not row["unsolved_loops"], (call.label, row["unsolved_loops"])
        assert sum(row[f"ldg{b}_per_out"] for b in (16, 32, 64, 128)) > 0, call.label
        assert sum(row[f"stg{b}_per_out"] for b in (16, 32, 64, 128)) > 0, call.label
        assert row["ld_lines_per_instr"] >= 1 and row["st_lines_per_instr"] >= 1, call.label
        assert row["bound"] in TERMS and 2.0 < row["predicted_us"] < math.inf, call.label
        assert call.ok and call.floor_bytes > 0
        # tl.dot kernels use the tensor cores; the direct convolution does 9 * Cin/L FMAs per output.
        if kernel in DOT_KERNELS:
            assert row["tensor_per_out"] > 0, call.label
        if kernel in ("grouped_conv2d_fwd_fma", "grouped_conv2d_fwd_nhwc"):
            assert row["fp32_per_out"] >= 9 * 2, call.label


def test_bf16_compiles_to_the_memory_accesses_of_fp16(forward):
    """bf16 is compiled (the interpreter, which has no bf16, only traces addresses): same element
    size as fp16, so the same loads and stores by width, per kernel and layout."""
    rows = {c.label: c.reports[-1].row() for c in forward.calls}
    for *_, kernel in FORWARD:
        for lay in ("nchw", "channels_last"):
            half, bf16 = rows[f"{kernel} fp16 {lay}"], rows[f"{kernel} bf16 {lay}"]
            for field in [f"{k}{b}_per_out" for k in ("ldg", "stg") for b in (16, 32, 64, 128)]:
                assert half[field] == bf16[field], (kernel, lay, field)


def test_outputs_render_as_table_json_and_csv(forward):
    from igc_triton.lab.inspect import render
    text = render.table(forward)
    assert "igc_block_fwd_tc" in text and "predictions of the static model" in text
    data = json.loads(render.to_json(forward))
    assert data["predicted"] is True and len(data["calls"]) == len(forward.calls)
    assert {k["kernel"] for c in data["calls"] for k in c["kernels"]} == {
        k for *_, kernel in FORWARD for lay in ("nchw", "channels_last") for k in expected_kernels(kernel, lay)}
    lines = render.to_csv(forward).splitlines()
    assert len(lines) == 1 + sum(len(c.reports) for c in forward.calls) and lines[0].startswith("call,")


# --- the model against the measured H200 run ----------------------------------------------------

def test_model_ranks_the_measured_h200_kernels():
    """The 4 layers of ../shared/gpu-runs/2026-11-26-h200 (copied into tests/data): 45 Triton bench
    timings and 45 per-kernel times of its tuning cache, predicted from the machine code Triton
    3.6 (the run's version) made of the same launches."""
    v = validate.evaluate(H200_RUN, devices.get("h200"))
    assert v.frozen and v.triton == "3.6.0"
    assert len(v.rows) == 90 and not [n for n in v.notes if "not predicted" in n]
    assert v.rho >= 0.9, validate.render(v)
    assert v.median_factor < 2.0, validate.render(v)


def test_model_ranks_the_measured_h100_kernels():
    """18 kernel-bound Triton timings of an H100 run (the nhwc and nhwc_fma forms, CUDA graph
    replays mostly), predicted from the frozen machine code of Triton 3.6: the model ranks them
    (the tuner's default is its first choice) but predicts them about 2.4x fast."""
    v = validate.evaluate(H100_RUN, devices.get("h100"))
    assert v.frozen and v.triton == "3.6.0" and len(v.rows) == 18
    assert v.rho >= 0.9, validate.render(v)
    assert v.median_factor < 3.0, validate.render(v)
    assert all(p < m.ms for m, p, _ in v.rows), validate.render(v)  # optimistic on every one


def test_model_predicts_the_h200_paper_layers_run():
    """The H200 run of paper-layers' 46 IGC layers (285 Triton timings, CUDA graph replays; its
    report folder), predicted from its frozen launches (the kernels and launchers of a922a57) and
    Triton 3.6's machine code: ranked, median error about x2. Its nhwc secondary ran each tile of
    positions over every pixel block before the next tile began; the trace finds the tiles reading
    the same rows of t and the model reads t from DRAM once per tile where t leaves L2: C = 3600,
    L = 450, M = 8 in fp32 is predicted within 10% of its measured 0.49 ms (0.22 ms with every
    tensor read once)."""
    v = validate.evaluate(PAPER_LAYERS_RUN, devices.get("h200"))
    assert v.frozen and v.triton == "3.6.0" and len(v.rows) == 285
    assert v.rho >= 0.9, validate.render(v)
    assert v.median_factor < 2.1, validate.render(v)
    [(m, predicted)] = [(m, p) for m, p, _ in v.rows if m.name == "triton-igc+graph igc-3600-3600-8px-L450M8 "
                                                                   "channels_last fp32"]
    assert predicted == pytest.approx(m.ms, rel=0.1)


def test_frozen_launches_are_what_the_current_code_records(monkeypatch):
    """While the kernels are those the run measured, capturing its measurements again (with the
    run's launch rules: the nhwc form came later) gives exactly the frozen launches, and tracing
    one again with the frozen machine code gives the frozen accesses. (After a change of those
    kernels the frozen data still stands; this cannot run.)"""
    from igc_triton.launch import launchers
    with gzip.open(os.path.join(H200_RUN, validate.FROZEN), "rt") as f:
        data = json.load(f)
    if data["sources_fingerprint"] != autotune.sources_fingerprint(data["sources"]):
        pytest.skip("the kernels changed since the H200 run; its frozen launches stand as recorded")
    monkeypatch.setattr(launchers, "NHWC_MAX_CHANNELS", 0)
    ms, launches, notes = validate.measurements(H200_RUN, devices.get("h200"))
    assert not notes, notes
    assert set(launches) == set(data["launches"])
    from igc_triton.lab.inspect import analyze, layouts, sass, trace
    ident = next(i for i, lc in launches.items() if lc.kernel == "igc_block_fwd" and "nhwc" in lc.key)
    compiled = analyze.compiled_from_dict(data["compiled"][ident])
    sites = layouts.parse_sites(compiled.ttgir)
    code = sass.parse(compiled.sass)
    analyze.align_lines(code, sites)
    [fresh] = trace.trace_all([(launches[ident], sites, analyze._vector_bytes(code))])
    assert analyze.trace_to_dict(fresh) == analyze.trace_to_dict(analyze.trace_from_dict(data["traces"][ident]))


def test_occupancy_follows_registers_shared_memory_and_threads():
    h100 = devices.get("h100")
    assert model.blocks_per_sm(h100, 128, 4, 0) == 4  # 128 regs x 128 threads = 16K of 64K
    assert model.blocks_per_sm(h100, 255, 8, 0) == 1
    assert model.blocks_per_sm(h100, 32, 4, 100 * 1024) == 2  # shared memory limits
    assert model.blocks_per_sm(h100, 16, 1, 0) == 32  # the hardware's block limit


def test_device_table_and_its_errors():
    assert devices.get("H200").dram_gbps > devices.get("h100").dram_gbps
    assert devices.for_arch(90).name == devices.DEFAULT_GPU
    with pytest.raises(ValueError, match="unknown GPU 'v100'"):
        devices.get("v100")
    with pytest.raises(ValueError, match="no GPU of compute capability 70"):
        devices.for_arch(70)


def test_l2_term_counts_bypassed_sectors_each_time_and_cached_ones_once():
    """analyze.l2_bytes per program: every sector of a load that skips L1 (16-byte cp.async), the
    footprint's share of the others (L1 serves a program's re-reads), every stored sector; the
    model's l2 term only where the device has an L2 bandwidth (none measured: none by default)."""
    from igc_triton.lab.inspect import analyze
    from igc_triton.lab.inspect.trace import SiteStats, Trace

    def site(kind, sectors):
        return SiteStats(kind, 2, sectors=sectors)
    tr = Trace(sites={("k.py", 10, 1): site("load", 900), ("k.py", 11, 1): site("load", 300),
                      ("k.py", 20, 1): site("store", 50)},
               footprint={1: 100 * 32, 2: 60 * 32})

    class Launch:
        programs = 4
    # Line 10 bypasses L1 (each of its 900 sectors from L2), line 11 does not: its 300 sectors are a
    # quarter of the loads', so a quarter of the 160-sector footprint, 40; 50 sectors stored.
    assert analyze.l2_bytes(Launch, tr, {("k.py", 10): 1.0}) == 4 * (900 + 40 + 50) * 32
    assert analyze.l2_bytes(Launch, tr, {}) == 4 * (160 + 50) * 32  # all cached: the footprint
    # A line whose bytes skip L1 for two thirds (another statement's copies given its line): 600
    # sectors from L2 each time, 300 + 300 cached, half the footprint.
    assert analyze.l2_bytes(Launch, tr, {("k.py", 10): 2 / 3}) == 4 * (600 + 80 + 50) * 32
    h200 = devices.get("h200")
    assert h200.l2_gbps is None and devices.l2_note(h200) == ""
    kw = dict(programs=132, num_warps=4, regs=64, smem=0, counts=model_counts(), lines_per_program=1,
              dram_bytes=1e6, l2_bytes=7e8)
    assert "l2" not in model.predict(h200, **kw).terms
    p = model.predict(devices.with_l2(h200, 7000), **kw)
    assert p.terms["l2"] == pytest.approx(100.0) and p.bound == "l2"
    assert "assumed" in devices.l2_note(devices.with_l2(h200, 7000))
    with pytest.raises(ValueError, match="must be positive"):
        devices.with_l2(h200, -1)


def model_counts():
    from igc_triton.lab.inspect import sass
    return sass.Counts(total=10.0, by_class={"alu": 2.0})


def test_the_h200_runs_tap_tiles_bypass_l1_and_an_assumed_l2_bandwidth_bounds_them():
    """In the frozen H200 run's machine code, the nhwc fused block and the nhwc_gemm primary copy
    their taps with LDGSTS.E.BYPASS (cp.async.cg): at an assumed L2 read bandwidth their L2 bytes
    bound them (C = 256, L = 16, M = 16); without one (the device table's, none measured) nothing
    is l2-bound."""
    v = validate.evaluate(PAPER_LAYERS_RUN, devices.get("h200"))
    assert v.l2 == "" and not any("l2" in b for _, _, b in v.rows)
    v5 = validate.evaluate(PAPER_LAYERS_RUN, devices.with_l2(devices.get("h200"), 5000))
    assert "assumed" in v5.l2 and "assumed" in validate.render(v5).splitlines()[0]
    bound = {m.name: b for m, _, b in v5.rows}
    assert bound["triton-igc-fused+graph igc-256-256-56px-L16M16 channels_last bf16"] == "l2"
    assert bound["triton-igc+graph igc-256-256-56px-L16M16 channels_last fp32"].startswith("l2+")


def test_launches_survive_a_round_trip_through_json():
    x = torch.empty(1, 12, 8, 8)  # C % 8 != 0: one launch, the generic fused kernel
    launches, _ = ii.capture_call(igc_triton.igc_block, x, torch.empty(12, 2, 3, 3), torch.empty(12, 6, 1, 1), 6)
    [lc] = launches
    again = capture.launch_from_dict(json.loads(json.dumps(capture.launch_to_dict(lc))))
    assert capture.identity(again) == capture.identity(lc) and again.grid == lc.grid


def test_layout_copies_are_recorded_and_predicted_with_the_call():
    """An NCHW block run by an nhwc kernel copies its input to channels_last (a PyTorch kernel the
    call pays for); the kernel writes the NCHW output itself. The copy is part of the call's
    predicted time: read and written once at the copy bandwidth, plus a launch."""
    x, wp, ws = torch.empty(2, 16, 8, 8), torch.empty(16, 2, 3, 3), torch.empty(16, 8, 1, 1)
    launches, floor = ii.capture_call(igc_triton.igc_block, x, wp, ws, 8)
    assert [lc.kernel for lc in launches] == [NHWC_FMA_KERNELS[0], "igc_block_nhwc_fma"]
    assert launches.copies == [capture.Copy((2, 16, 8, 8), "float32", "channels_last", 2 * 16 * 8 * 8 * 4)]
    assert dict(launches[1].params)["OUT_NCHW"] is True
    cl, _ = ii.capture_call(igc_triton.igc_block, x.contiguous(memory_format=torch.channels_last), wp, ws, 8)
    assert cl.copies == [] and dict(cl[1].params)["OUT_NCHW"] is False
    h200 = devices.get("h200")
    assert ii.copy_us(10**9, h200) == pytest.approx(2e9 / (h200.dram_gbps * 1e9) * 1e6 + h200.launch_us)

    class Report:  # a kernel report as analyze makes it, its prediction only
        prediction = type("P", (), {"us": 5.0})()
    call = ii.Call("c", [Report(), Report()], floor, copies=[(launches.copies[0], 3.0)])
    assert call.predicted_us == 13.0


def test_config_all_records_every_candidate_once():
    x = torch.empty(1, 12, 8, 8)
    args = (x, torch.empty(12, 2, 3, 3), torch.empty(12, 6, 1, 1), 6)
    every, _ = ii.capture_call(igc_triton.igc_block, *args, config=ii.ALL)
    [default], _ = ii.capture_call(igc_triton.igc_block, *args)
    assert len(every) == every[0].candidates > 1
    assert len({json.dumps(lc.config, sort_keys=True) for lc in every}) == len(every)
    assert every[-1].config == default.config and default.config_source == "default"


# --- the command line ----------------------------------------------------------------------------

def test_cli_inspects_an_op_as_json(capsys):
    assert cli.main(["inspect", "igc_block", "--cin", "16", "--L", "8", "--batch", "1", "--hw", "8", "--dtype",
                     "fp16", "--layout", "channels_last", "--format", "json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    [call] = data["calls"]
    assert call["label"].startswith("igc_block N=1 C=16->16 8x8 L=8 M=2 fp16 channels_last")
    assert [k["kernel"] for k in call["kernels"]] == NHWC_FMA_KERNELS and call["predicted_us"] > 0
    # 64 outputs x 16 channels, each 9 * 2 primary and 8 secondary multiply-adds, at the h100's 16-bit rate
    assert call["compute_floor_us"] == pytest.approx(64 * 16 * (18 + 8) / (2048 * 132 * 1.98e9) * 1e6)


def test_the_ranking_puts_spilling_configs_last_among_equally_fast_ones(monkeypatch):
    """A memory-bound problem's configs are predicted alike: one that spills registers must not
    become the default by the order it was compiled in, nor by a prediction under 10% faster; a
    prediction faster by more still wins. Among configs alike in both, the recording's order
    decides: the default it ran with (the shipped first choice) stays first, then the config
    space's order, whatever order the calls compiled them in."""
    from types import SimpleNamespace as NS

    from igc_triton.lab.inspect import analyze, model, ranking

    def report(a, us, spills, source="tuned"):
        return NS(prediction=us, launch=NS(kernel="k", key="p", config={"A": a}, programs=1, num_warps=4,
                                           config_source=source),
                  compiled=NS(regs=32, smem=0, spills=spills), counts=None, trace=NS(sites={}), dram_bytes=0,
                  l2_bytes=0)
    reports = [report(1, 5.0, True), report(2, 5.0, False), report(3, 4.0, True), report(4, 4.8, True),
               report(5, 6.0, False, "candidate 3/4"), report(6, 6.0, False, "candidate 1/4 (default)"),
               report(7, 6.0, False, "candidate 2/4")]
    predicted = iter(r.prediction for r in reports)
    monkeypatch.setattr(model, "predict", lambda *a, **k: NS(us=next(predicted)))
    monkeypatch.setattr(analyze, "dram_bytes", lambda *a: 0)
    ranked = ranking.rank(NS(calls=[NS(reports=reports)]), devices.get("h200"))
    assert [e["config"]["A"] for e in ranked["k|p"]] == [3, 2, 4, 1, 6, 7, 5]
    assert [e["us"] for e in ranked["k|p"]] == [4.0, 5.0, 4.8, 5.0, 6.0, 6.0, 6.0]  # the predictions as they are


def test_cli_ranks_a_suites_triton_cases(capsys, tmp_path):
    out = tmp_path / "inspect.csv"
    assert cli.main(["inspect", "--suite", "smoke", "--case", "igc-16-16-8px-L8M2", "--layout", "nchw", "--quiet"]) == 0
    text = capsys.readouterr().out
    ranked = [line for line in text.splitlines() if line[:3].strip().isdigit()]
    assert len(ranked) == 3  # fused, two-kernel and primary-only: fp32, NCHW
    times = [float(line.split()[-4]) for line in ranked]
    assert times == sorted(times)
    assert cli.main(["inspect", "--suite", "smoke", "--case", "igc-16-16-8px-L8M2", "--layout", "nchw", "--format",
                     "csv", "--out", str(out), "--quiet"]) == 0
    assert out.read_text().startswith("call,")


@pytest.mark.parametrize("argv,message", [
    (["inspect", "conv3d", "--L", "2"], "unknown op 'conv3d'"),
    (["inspect", "--suite", "smoke", "--case", "nope"], "has no case nope"),
    (["inspect", "--suite", "nope"], "unknown suite 'nope'"),
    (["inspect", "igc_block", "--L", "4", "--arch", "70"], "no GPU of compute capability 70"),
    (["inspect", "igc_block", "--L", "4", "--arch", "80", "--gpu", "h100"], "does not match --gpu h100"),
    (["inspect", "igc_block", "--cin", "10", "--L", "4"], "divisible by --L"),
    (["inspect", "igc_block", "--cin", "16"], "needs --L"),
    (["inspect", "igc_block", "--L", "4", "--dtype", "fp8"], "unknown --dtype fp8"),
    (["inspect", "igc_block", "--L", "4", "--ship-ranking"], "--ship-ranking needs --config all"),
    (["inspect", "igc_block", "--L", "4", "--l2-gbps", "0"], "--l2-gbps must be positive"),
    (["inspect", "igc_block", "--L", "4", "--config", "all", "--ship-ranking", "--l2-gbps", "7000"],
     "no --ship-ranking with it"),
    (["inspect"], "give exactly one of OP"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("igc-lab inspect: ") and message in err and len(err.splitlines()) == 1, err


def test_an_op_refusing_the_shape_is_one_line(capsys):
    # igc_secondary maps C to C channels.
    assert cli.main(["inspect", "igc_secondary", "--cin", "16", "--cout", "32", "--L", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "igc_secondary maps C channels to C" in err and len(err.splitlines()) == 1


def test_report_shows_predicted_beside_measured(tmp_path):
    import shutil

    from igc_triton.lab import report
    for name in ("results.csv", "env.json"):
        shutil.copy(os.path.join(H200_RUN, name), tmp_path / name)
    v = validate.evaluate(H200_RUN, devices.get("h200"))
    validate.write_predicted(v, tmp_path / "predicted.csv")
    report.write(str(tmp_path))
    from test_bench import assert_report_traceable
    text = assert_report_traceable(str(tmp_path))
    section = text.split("## Measured beside predicted")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| h-")]
    assert len(rows) == 45  # every Triton bench timing of the run


# --- the nhwc fused block, judged without a GPU (issue 12's gates) ---------------------------------

@pytest.fixture(scope="module")
def nhwc_blocks():
    from igc_triton.lab.inspect import calls
    captured = []
    # The paper's CIFAR blocks (N=128, 32x32) and lm-sweep's C=256, L=4 (N=64, 14x14).
    for shape in [calls.Shape(128, 48, 48, 32, 24), calls.Shape(128, 64, 64, 32, 8),
                  calls.Shape(128, 80, 80, 32, 40), calls.Shape(64, 256, 256, 14, 4)]:
        label, fn, args, kw = calls.op_call("igc_block", shape, "bf16", "channels_last")
        captured.append((label, *ii.capture_call(fn, *args, label=label, **kw),
                         dict(dtype="bf16", macs=calls.op_macs("igc_block", shape))))
    return ii.analyze_calls(captured, "h200")


def test_only_large_partitions_are_bound_by_the_tensor_cores_not_memory(nhwc_blocks):
    """The compute floor (useful multiply-adds at the dense bf16 tensor-core rate) of C=256, L=4
    (M=64: 9 * 64 + 4 per output) lies above its memory floor: with the model's 2 us per launch,
    2x the memory floor (issue 12's gate) is out of its reach there, 2x the larger floor is the
    target. The M = 2 and 8 blocks are memory-bound by 4x or more."""
    rate = 2048 * 132 * 1.98e9  # h200: multiply-adds per second
    by_c = {int(c.label.split("C=")[1].split("->")[0]): c for c in nhwc_blocks.calls}
    big = by_c[256]
    assert big.compute_us == pytest.approx(64 * 14 * 14 * 256 * (9 * 64 + 4) / rate * 1e6)
    assert big.compute_us > big.floor_us and big.roofline_us == big.compute_us
    for c in (48, 64, 80):
        assert by_c[c].compute_us * 4 < by_c[c].floor_us == by_c[c].roofline_us, c


def test_nhwc_blocks_load_wide_do_not_spill_and_approach_the_memory_floor(nhwc_blocks):
    """bf16, channels_last, default configs. Every block: 128-bit loads along channels, no
    spills, the secondary on tensor cores. M = 2 (C = 48, L = 24; C = 80, L = 40): the nhwc_fma
    form, primary on CUDA cores (its 18 multiply-adds per output beat a block-diagonal
    tensor-core product that does 8x the work and stages every tap through shared memory), within
    4x of the memory floor. M = 8 and 64: the nhwc form, both steps on tensor cores, its taps a
    cp.async pipeline (LDGSTS) feeding wgmma from shared memory, within 5x (6x before the
    pipeline). These bounds hold for the machine code of the Triton this runs (3.9 in CI); with
    the GPU image's Triton 3.6 the four are predicted at 2.4x, 2.4x, 2.3x and 3.9x (README). The
    issue's target, 2x for all four, is not reached: the bounds are guards against regressions."""
    forms = {}
    for call in nhwc_blocks.calls:
        block = call.reports[-1]
        forms[block.launch.kernel] = forms.get(block.launch.kernel, 0) + 1
        row = block.row()
        assert not row["error"] and not row["spills"], call.label
        assert row["ldg_wide_share"] >= 0.8, (call.label, row["ldg_wide_share"])
        assert row["tensor_per_out"] > 0, call.label
        if block.launch.kernel == "igc_block_nhwc_fma":
            assert [r.launch.kernel for r in call.reports] == NHWC_FMA_KERNELS
            assert row["fp32_per_out"] >= 2 * 9, call.label  # the primary's multiply-adds, on CUDA cores
            assert row["instr_per_out"] < 70, call.label  # the generic kernels: 200-800
            assert call.predicted_us <= 4 * call.floor_us, (call.label, call.predicted_us, call.floor_us)
        else:
            assert [r.launch.kernel for r in call.reports] == NHWC_KERNELS  # its weights read in the kernel
            assert row["fp32_per_out"] == 0, call.label
            assert row["instr_per_out"] < 75, call.label  # 65 before its weight tiles were built in it (C=256: +9)
            assert row["ldgsts_share"] >= 0.8, call.label  # the taps' inputs go straight to shared memory
            assert call.predicted_us <= 5 * call.floor_us, (call.label, call.predicted_us, call.floor_us)
    assert forms == {"igc_block_nhwc_fma": 2, "igc_block_nhwc": 2}


# --- the trip-count solve ------------------------------------------------------------------------

def _program(load_lines_in_loop):
    """A loop of three 16-byte loads per pass (at the given source lines), a load before it."""
    from igc_triton.lab.inspect import sass
    instrs = [sass.Instr(0x00, "LDG.E.128", "", "k.py", 5)]
    instrs += [sass.Instr(0x10 * (n + 1), "LDG.E.128", "", "k.py", line) for n, line in enumerate(load_lines_in_loop)]
    instrs.append(sass.Instr(0x40, "BRA", "", "k.py", 9))
    return sass.Sass(instrs, [sass.Loop(0x10, 0x40, "k.py", 9)])


@pytest.mark.parametrize("lines,why", [([10, 11, 12], "the loads' lines match the trace"),
                                       ([13, 13, 14], "the compiler gave the loads other lines")])
def test_trip_counts_are_solved_from_the_traced_loads(lines, why):
    """The traced program loaded 16 bytes at line 5 and 3 x 16 at each of lines 10-12: three
    passes of the loop, found from the loads' lines, or by bytes in all when the machine code
    attributes them to other lines."""
    from igc_triton.lab.inspect import sass
    code = _program(lines)
    sass.solve_trip_counts(code, {("k.py", 5): 16, ("k.py", 10): 48, ("k.py", 11): 48, ("k.py", 12): 48})
    assert code.loops[0].trip == 3.0 and code.residual == 0.0 and not code.unsolved, why
    counts = sass.count(code)
    assert counts.loads_by_width[128] == 1 + 3 * 3


def test_a_loop_its_lines_leave_at_zero_passes_is_solved_by_bytes():
    """Triton 3.9's nhwc_fma with PREFETCH: the loop's loads carry the line of the prologue's,
    whose traced bytes the prologue nearly accounts for, so the lines say the loop runs a
    quarter of a pass (rounded: never); the line of the loop's own loads has none in the machine
    code. A loop with loads does run: solved by bytes in all (48 before it + 2 passes of 32)."""
    from igc_triton.lab.inspect import sass
    instrs = [sass.Instr(0x10 * n, "LDG.E.128", "", "k.py", 10) for n in range(3)]
    instrs += [sass.Instr(0x30 + 0x10 * n, "LDG.E.128", "", "k.py", 10) for n in range(2)]
    instrs.append(sass.Instr(0x50, "BRA", "", "k.py", 9))
    code = sass.Sass(instrs, [sass.Loop(0x30, 0x50, "k.py", 9)])
    sass.solve_trip_counts(code, {("k.py", 10): 56, ("k.py", 11): 56})
    assert code.loops[0].trip == 2.0 and not code.unsolved
    assert sass.count(code).loads_by_width[128] == 3 + 2 * 2


def test_a_remainder_loop_may_run_no_pass_beside_its_unrolled_loop():
    """An unrolled loop (two loads a pass) and its remainder (one), copies of one source loop:
    64 bytes are two unrolled passes and no remainder pass. The remainder's zero passes are
    right, not a sign of unanchored loads (a load before the loop whose traced bytes differ
    from its machine code's must not turn them into a solve by bytes in all)."""
    from igc_triton.lab.inspect import sass
    instrs = [sass.Instr(0x00, "LDG.E.128", "", "k.py", 5),
              sass.Instr(0x10, "LDG.E.128", "", "k.py", 10), sass.Instr(0x20, "LDG.E.128", "", "k.py", 10),
              sass.Instr(0x30, "BRA", "", "k.py", 9),
              sass.Instr(0x40, "LDG.E.128", "", "k.py", 10), sass.Instr(0x50, "BRA", "", "k.py", 9)]
    code = sass.Sass(instrs, [sass.Loop(0x10, 0x30, "k.py", 9), sass.Loop(0x40, 0x50, "k.py", 9)])
    sass.solve_trip_counts(code, {("k.py", 5): 32, ("k.py", 10): 64})
    assert [lp.trip for lp in code.loops] == [2.0, 0.0]


def test_validation_leaves_out_calls_bound_by_host_time(tmp_path):
    """Eager calls whose host time comes near their latency measured the host, not the kernels
    (an H100 run: tests/data/budget_cut_results.csv, the fused block eager at 0.19-0.23 ms with
    0.21-0.28 ms of host time): the model is compared with the others only."""
    import csv
    rows = list(csv.DictReader(open(os.path.join(os.path.dirname(__file__), "data", "budget_cut_results.csv"))))
    # Without the run's config rows: the configs it ran are not the nhwc kernel's today (a changed
    # kernel's rows are left out, which another test checks), and host time is what this one is about.
    rows = [r for r in rows if r["metric"] != "config"]
    kernel_bound = None
    for r in rows:  # one call made kernel-bound: its host time a tenth of its latency
        if r["metric"] == "host_us" and r["provider"] == "triton-igc-fused" and r["layout"] == "channels_last":
            kernel_bound = (r["case"], r["layout"])
            latency = next(float(x["value"]) for x in rows if x["metric"] == "latency_ms"
                           and (x["case"], x["provider"], x["layout"]) == (r["case"], r["provider"], r["layout"]))
            r["value"] = str(latency * 100)  # us: 0.1 x the latency
    with open(tmp_path / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ms, launches, notes = validate.measurements(tmp_path, devices.get("h100"))
    assert [(m.case, m.layout) for m in ms] == [kernel_bound] and launches
    host_bound = [n for n in notes if "host-bound" in n]
    assert len(host_bound) == 1 and "triton-igc-fused igc-192-192-8px-L24M8-n128 nchw bf16" in host_bound[0]


# --- the large layers in channels_last: the nhwc_pair form --------------------------------------

@pytest.fixture(scope="module")
def pair_blocks():
    from igc_triton.lab.inspect import calls
    captured = []
    # paper-layers' C=400 L=200 (channel pairs) and C=512 L=16 M=32 (groups of 32: the implicit GEMM).
    for shape in [calls.Shape(64, 400, 400, 28, 200), calls.Shape(64, 512, 512, 28, 16)]:
        label, fn, args, kw = calls.op_call("igc_block", shape, "bf16", "channels_last")
        captured.append((label, *ii.capture_call(fn, *args, label=label, **kw),
                         dict(dtype="bf16", macs=calls.op_macs("igc_block", shape))))
    return ii.analyze_calls(captured, "h200")


def test_large_channels_last_blocks_run_two_nhwc_kernels_near_the_floor(pair_blocks):
    """bf16, default configs (Triton of this run; 3.9 in CI). The primary (channel pairs, or the
    implicit GEMM over 64-byte group pieces, its weight read channels_last as the model holds it) and the secondary
    load 128-bit vectors along channels (mostly), neither spills, the secondary (and the GEMM primary) run
    on tensor cores, and the call is predicted within 4x of the memory floor (with Triton 3.6:
    2.7x and 3.7x; the generic fused forms they replace: 131x and 18x)."""
    kernels = {c.label.split()[2]: [r.launch.kernel for r in c.reports] for c in pair_blocks.calls}
    assert kernels == {"C=400->400": NHWC_CONV_KERNELS + ["igc_secondary_fwd_nhwc"],
                       "C=512->512": ["grouped_conv2d_fwd_nhwc_gemm", "igc_secondary_fwd_nhwc"]}
    for call in pair_blocks.calls:
        for r in call.reports:
            row = r.row()
            if r.launch.kernel.endswith("weights_kernel"):
                continue
            assert not row["error"] and not row["spills"], (call.label, r.launch.kernel)
            # At L = 16 the secondary's [16 x 16] weight tiles give each thread one or two
            # elements (16-bit: a third of its load instructions with 4 warps, half with 8, which
            # the ranking picks among configs all predicted at the memory floor; not of its bytes).
            wide = 0.5 if "L=16" in call.label and r.launch.kernel == "igc_secondary_fwd_nhwc" else 0.8
            assert row["ldg_wide_share"] >= wide, (call.label, r.launch.kernel, row["ldg_wide_share"])
            if r.launch.kernel != "grouped_conv2d_fwd_nhwc":
                assert row["tensor_per_out"] > 0, (call.label, r.launch.kernel)
        assert call.predicted_us <= 4 * call.floor_us, (call.label, call.predicted_us, call.floor_us)
    assert [len(c.copies) for c in pair_blocks.calls] == [0, 0]  # weights channels_last already, as a model's


def test_long_secondary_reads_its_laid_out_weight_in_whole_vectors(monkeypatch):
    """L = 450 (900-byte weight rows, 16-bit): the nhwc secondary's weight is transposed first by
    its weights kernel (rows of 128 bytes), so that the secondary's weight tiles are whole vectors
    too: 128-bit loads (>= 80%; read as stored, runs of 2 elements, two thirds of its loads were
    32-bit with Triton 3.6). Laid out only from NHWC_SECONDARY_LAYOUT_MIN_L: raised past 450, the
    weights kernel is gone and the share drops."""
    from igc_triton.lab.inspect import calls
    from igc_triton.launch import launchers
    shape = calls.Shape(2, 900, 900, 8, 450)

    def inspect_secondary():
        label, fn, args, kw = calls.op_call("igc_secondary", shape, "bf16", "channels_last")
        [call] = ii.analyze_calls([(label, *ii.capture_call(fn, *args, label=label, **kw),
                                    dict(dtype="bf16", macs=calls.op_macs("igc_secondary", shape)))], "h200").calls
        return call

    call = inspect_secondary()
    assert [r.launch.kernel for r in call.reports] == ["igc_secondary_nhwc_weights_kernel", "igc_secondary_fwd_nhwc"]
    row = call.reports[-1].row()
    assert not row["error"] and not row["spills"]
    assert row["ldg_wide_share"] >= 0.8, row["ldg_wide_share"]
    monkeypatch.setattr(launchers, "NHWC_SECONDARY_LAYOUT_MIN_L", 451)
    call = inspect_secondary()
    assert [r.launch.kernel for r in call.reports] == ["igc_secondary_fwd_nhwc"]
    assert call.reports[-1].row()["ldg_wide_share"] < 0.8
