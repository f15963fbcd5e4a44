"""Grouped convolution forward for contiguous channels_last (NHWC) tensors as an implicit GEMM
per group on tensor cores: groups of 16 or more input channels as they are, smaller groups
joined into block-diagonal super-groups.

The generic GEMM kernel (``grouped_conv2d_fwd.py``) takes any strides: 64-bit offsets per
element, a channel mask per element (its group width is a run-time value) and weights gathered
9 elements apart, so in channels_last most of its loads are 16 bits wide (``igc-lab inspect``:
20-40% of them 64-bit or wider on IGC's large partitions); its FMA sibling, for small groups,
gathers 16-bit channels along pixels. Here the group widths are constants, a program owns
BLOCK_M pixels (flattened over the batch) and BLOCK_N output channels of one group, and loops
over (tap, channel block):

- the input tile is BLOCK_K contiguous channels of each pixel, shifted by the tap: vectors along
  channels, a mask per pixel (a channel mask only where BLOCK_K does not divide the group, or
  past the last channel of a partial super-group); each pixel's row offset is computed once
  (64-bit), a tap adds one scalar;
- groups whose channels do not start every 16 bytes (IGC-L32M26: 26 channels, 52 bytes; 52
  channels, 104 bytes) read a window of KWIN channels from the group's first channel rounded
  down to 16 bytes (``ALIGN`` channels), so every load is a 16-byte vector; the weight is laid
  out over the window, zero outside the group (``inspect`` found the 16- and 32-bit loads of
  26-channel groups instruction-bound, 119 instructions per output);
- the weight is read as (groups, KH, KW, CIN_G) per output channel, its group's input channels
  contiguous, so its [BLOCK_N x BLOCK_K] tile loads as vectors too. For groups of 16 or more
  channels that is the weight in channels_last (copied once per call unless it already is, as
  ``model.to(memory_format=torch.channels_last)`` leaves it). Groups of fewer channels (IGC's
  M = 4, 8, the transition blocks' channel doubling, C not a multiple of 8) are joined SG at a
  time into super-groups of 32 input channels or a multiple, whose weight is block-diagonal (zero
  between the joined groups): SG times the useful multiply-adds, on tensor cores, for wide
  loads. Its tile is built from the channels_last weight as given (``JOIN``): each output
  channel's group is a run of channels of it, loaded as one vector (8 or 16 bytes at 4 and 8
  channels), masked off outside the group, so no layout kernel runs (one launch less, about 2 us
  of a 4-9 us call on the small layers); a window's weight (which shifts each group by its own
  offset), and groups whose channels are no aligned vector (``launchers.nhwc_gemm_join``), are
  laid out by ``grouped_conv2d_nhwc_gemm_weights_kernel`` in the same launch sequence;
- loads feed ``tl.dot`` directly, so Triton's software pipeline copies them to shared memory
  ``num_stages`` steps ahead (cp.async) while the tensor cores work. A 16-byte cp.async is
  emitted as ``cp.async.cg`` (``LDGSTS.E.BYPASS.128``: L1 not allocated; Triton picks .cg for 16
  bytes and .ca for 8 and 4), so the taps' overlapping input tiles come from L2 each time, about
  9x the input per K step. ``TAPS_L1`` = 1 caps the contiguity the compiler sees at 8 bytes: the
  input tile is copied by twice as many 8-byte ``cp.async.ca`` (``LDGSTS.E.64``), which allocate in
  L1, so a tap can find its neighbour's lines there (what L1 holds beside the shared memory the
  stages take decides how many; not measured yet: ``bench/pipeline_ab.py`` times both).

Its configs (``configs.NHWC_GEMM_CONFIGS``) are the generic GEMM kernel's, 4 warps (the same
flattened tap loop; see ``grouped_conv2d_fwd.py`` on pytorch#173068), and four with TAPS_L1.
"""

import triton
import triton.language as tl


@triton.jit
def grouped_conv2d_nhwc_gemm_kernel(
    x_ptr,  # input (N, H, W, CIN) contiguous
    w_ptr,  # weight (GROUPS * COUT_G, KH, KW, KWIN) contiguous, or with JOIN the channels_last weight as given
    b_ptr,  # bias (COUT,), read when HAS_BIAS
    y_ptr,  # output (N, OH, OW, COUT) contiguous
    H, W, OH, OW, P,  # P = N * OH * OW
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
    CIN: tl.constexpr,  # input channels
    COUT: tl.constexpr,  # output channels
    CIN_G: tl.constexpr,  # input channels per (super-)group (>= 16: the product's K)
    COUT_G: tl.constexpr,  # output channels per (super-)group
    GROUPS: tl.constexpr,  # (super-)groups; the last may reach past CIN and COUT
    KWIN: tl.constexpr,  # input channels a group's product reads: CIN_G, or its aligned window
    ALIGN: tl.constexpr,  # 1, or channels per 16 bytes: a group's window starts at a multiple of it
    JOIN: tl.constexpr,  # > 1: the groups a super-group joins, w the channels_last weight as given (see below)
    KH: tl.constexpr,
    KW: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,  # pixels per program
    BLOCK_N: tl.constexpr,  # output channels per program (of one group)
    BLOCK_K: tl.constexpr,  # input channels per step (of the group)
    TAPS_L1: tl.constexpr,  # 1: the input tile copied in 8-byte pieces, which L1 keeps (see above)
):
    KB: tl.constexpr = (KWIN + BLOCK_K - 1) // BLOCK_K
    pid_m = tl.program_id(0)
    n0 = tl.program_id(1) * BLOCK_N
    g = tl.program_id(2)
    p = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    p_ok = p < P
    ow = p % OW
    oh = (p // OW) % OH
    img = p // (OW * OH)
    ih0 = oh * stride_h - pad_h
    iw0 = ow * stride_w - pad_w
    # The group's first input channel, rounded down to 16 bytes where ALIGN asks (its window).
    c0 = (g * CIN_G) // ALIGN * ALIGN
    # Each pixel's input row offset, once: (img, ih0, iw0) in elements, 64-bit.
    x_row = (img.to(tl.int64) * H + ih0) * (W * CIN) + iw0 * CIN + c0
    # Pixels past the last start at a row no tap reaches, so that a tap's mask is one unsigned
    # comparison per axis (a chain of five conditions compiled to five selects per copy).
    ih_ok = tl.where(p_ok, ih0, -(1 << 24)).to(tl.uint32)
    iw_u = iw0.to(tl.uint32)
    k = tl.arange(0, BLOCK_K)
    co = n0 + tl.arange(0, BLOCK_N)
    if COUT % COUT_G == 0:
        co_ok = co < COUT_G
    else:  # a partial last super-group
        co_ok = (co < COUT_G) & (g * COUT_G + co < COUT)
    if JOIN > 1:
        GIN: tl.constexpr = CIN_G // JOIN
        GOUT: tl.constexpr = COUT_G // JOIN
        w_row = (g * COUT_G + co) * (KH * KW * GIN)
        co_grp = co // GOUT
    else:
        w_row = (g * COUT_G + co) * (KH * KW * KWIN)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for i in range(KH * KW * KB):
        tap = i // KB
        k0 = (i - tap * KB) * BLOCK_K
        dh = (tap // KW) * dil_h
        dw = (tap % KW) * dil_w
        ok = (ih_ok + dh < H) & (iw_u + dw < W)  # unsigned: a row or column before the first wraps past H, W
        x_off = x_row[:, None] + ((dh * W + dw) * CIN + k0 + k)[None, :]
        x_ok = ok[:, None]
        if JOIN > 1:
            # The block-diagonal tile from the weight as given: output co reads its own group's
            # GIN channels (a run of them, one vector), zero from the other joined groups' (and
            # past the super-group, which no output's group reaches).
            w_off = w_row[:, None] + (tap * GIN + (k0 + k) % GIN)[None, :]
            w_ok = co_ok[:, None] & (co_grp[:, None] == ((k0 + k) // GIN)[None, :])
        else:
            w_off = w_row[:, None] + (tap * KWIN + k0 + k)[None, :]
            w_ok = co_ok[:, None]
        if KWIN % BLOCK_K != 0 or CIN % CIN_G != 0 or ALIGN != 1:
            # Past the window (the last K step), or past the last channel (a window or a partial
            # super-group at the end): a whole 16-byte vector either way, as KWIN, c0, CIN are
            # multiples of ALIGN.
            k_ok = (k0 + k < KWIN) & (c0 + k0 + k < CIN)
            x_ok = x_ok & k_ok[None, :]
            if JOIN <= 1:
                w_ok = w_ok & k_ok[None, :]
        if TAPS_L1:
            x_off = tl.max_contiguous(x_off, [1, 64 // x_ptr.dtype.element_ty.primitive_bitwidth])
        xv = tl.load(x_ptr + x_off, mask=x_ok, other=0.0)
        wv = tl.load(w_ptr + w_off, mask=w_ok, other=0.0)
        # Stored [co, ci] (ci contiguous) and transposed here: K-major in shared memory, as wgmma needs.
        acc = tl.dot(xv, tl.trans(wv), acc, input_precision=DOT_PRECISION)
    if HAS_BIAS:
        acc += tl.load(b_ptr + g * COUT_G + co, mask=co_ok, other=0.0).to(tl.float32)[None, :]
    y_off = p.to(tl.int64)[:, None] * COUT + (g * COUT_G + co)[None, :]
    tl.store(y_ptr + y_off, acc.to(y_ptr.dtype.element_ty), mask=p_ok[:, None] & co_ok[None, :])


@triton.jit
def grouped_conv2d_nhwc_gemm_weights_kernel(
    w_ptr,  # weight (COUT, cin_g, KH, KW), strides sw_* (contiguous or channels_last: read as it is)
    wbd_ptr,  # out: (SUPER * SG * cout_g, KH, KW, KWIN), the block-diagonal super-group weight
    sw_o, sw_i, sw_h, sw_w,
    COUT: tl.constexpr,  # output channels; with cin_g, cout_g constants (as SIZE is), the divisions
    cin_g: tl.constexpr,  # below are multiplies: the layout costs a fraction of the launch
    cout_g: tl.constexpr,
    SG: tl.constexpr,  # groups per super-group
    TAPS: tl.constexpr,  # KH * KW
    KW: tl.constexpr,
    SIZE: tl.constexpr,  # elements of wbd
    KWIN: tl.constexpr,  # the window of input channels per super-group (SG * cin_g, or more)
    ALIGN: tl.constexpr,  # 1, or the channels per 16 bytes the windows start at a multiple of
    BLOCK: tl.constexpr,
):
    """wbd[r, tap, j] for row r = s * SG * cout_g + o (super-group s) and j < KWIN: with k = j -
    (s * SG * cin_g) % ALIGN (the window starts that many channels before the super-group), the
    weight of output channel s * SG * cout_g + o from its group's input channel k % cin_g when
    0 <= k < SG * cin_g, input channel k is in output o's group (o // cout_g == k // cin_g) and
    the channel exists, else 0."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    j = e % KWIN
    tap = (e // KWIN) % TAPS
    r = e // (KWIN * TAPS)
    o = r % (SG * cout_g)
    k = j - ((r // (SG * cout_g)) * SG * cin_g) % ALIGN
    co = r  # the output channel: super-groups hold SG * cout_g consecutive ones
    ok = (e < SIZE) & (k >= 0) & (k < SG * cin_g) & (o // cout_g == k // cin_g) & (co < COUT)
    v = tl.load(w_ptr + co * sw_o + (k % cin_g) * sw_i + (tap // KW) * sw_h + (tap % KW) * sw_w, mask=ok, other=0.0)
    tl.store(wbd_ptr + e, v, mask=e < SIZE)
