"""One row of a CSR SpMM with the output row held in vector registers (explicit SIMD for numba).

``spmm_row(Y, X, indices, data, None, i, start, end, b0)`` computes

    Y[i, :] = b0 + sum_{p = start}^{end - 1} data[p] * X[indices[p], :]

for an ``X`` whose rows are at most :data:`REG_BYTES` bytes long (128 float32 or 64 float64
columns). It is what :func:`~sparsecourse.kernels.csr_spmm` runs for such narrow dense operands.

**Why it exists.** The plain numba loop (``_spmm_py``'s buffer path) adds ``a * X[k, :]`` into a
row buffer in memory. LLVM cannot prove that the buffer and ``X`` do not overlap, so it
vectorises that loop behind run-time overlap checks, and for a vector loop it wants 32 or more
columns: a 16-column float32 product ran the checks and then the remainder loop for every
group of four stored values. Written here instead: the row of ``Y`` is an LLVM vector value (for
16 float32 columns, one 64-byte AVX-512 register) that lives in registers for the whole row, and
each stored value costs one vector load of ``X[k, :]``, a broadcast multiply and an add. No
overlap is possible, so there is nothing to check. On this book's machine (AMD EPYC, AVX-512)
that made a 16-column float32 product 1.9-2.4x faster than the buffer loop (measured side by
side on 8192 x 8192 matrices of density 0.05 and 1; ``benchmarks/spmv.py`` compares the
result with torch.sparse).

**Same numbers as the loop it replaces.** Stored values are taken four at a time and added as
``acc += (a0 X[k0] + a1 X[k1]) + (a2 X[k2] + a3 X[k3])``, the same order as ``axpy4``, and the
last 0-3 one at a time, as ``axpy``: the result is bit-for-bit that of the buffer loop
(``tests/test_kernels.py`` pins this), with no fused multiply-add.

**Any width up to REG_BYTES.** The row is split into blocks of 256, 128, 64, 32, 16, 8 and 4
bytes (a 20-column float32 row is 64 + 16 bytes). A width that is a single block (4, 8, 16,
32, 64, 128 float32 columns, ...) gets its own loop with no branch in it; other widths run
one loop in which each block is guarded by a branch that is the same for the whole row and so
predicted well. On a machine without AVX-512, LLVM splits each vector over the registers it
has (the results are the same). Only ``X``'s rows need be contiguous (``X.strides[1]`` equal to the
item size); the caller checks that, and the row stride is read from the array.

This is written with :func:`numba.extending.intrinsic`, which lets a numba function emit LLVM IR
directly (through ``llvmlite``): numba has no vector type of its own.
"""

from __future__ import annotations

import contextlib

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Widest row of ``X`` (in bytes) that :func:`spmm_row` keeps in registers: 8 AVX-512 registers
#: of accumulators (AVX-512 has 32). Wider rows use the buffer loop, which reads each row of
#: ``X`` once per stored value, where this one would read it in several passes.
REG_BYTES = 512
_BLOCKS = (256, 256, 128, 64, 32, 16, 8, 4)  # bytes; every multiple of 4 up to 512 is a sum
_UNROLL = 4  # stored values per step, grouped as in axpy4


@intrinsic
def spmm_row(typingctx, Y, X, indices, data, perm, i, start, end, b0):
    """``Y[i, :] = b0 + sum_p data[p] * X[indices[p], :]``, p in [start, end) (see the module).

    With ``perm`` an integer array instead of ``None``, the weight of entry ``p`` is
    ``data[perm[p]]`` (values kept in another order, as the sparse layer's CSC walk has them).
    """
    if not (isinstance(Y, types.Array) and isinstance(X, types.Array) and Y.ndim == X.ndim == 2
            and Y.dtype == X.dtype == data.dtype and isinstance(Y.dtype, types.Float)):
        return None
    indirect = not isinstance(perm, (types.NoneType, types.Omitted))
    sig = types.void(Y, X, indices, data, perm, i, start, end, b0)
    dt = Y.dtype
    isz = dt.bitwidth // 8

    def codegen(context, builder, signature, args):
        aY, aX, aind, adat, aperm, ai, astart, aend, ab0 = signature.args
        vY, vX, vind, vdat, vperm, vi, vstart, vend, vb0 = args
        i64 = ir.IntType(64)
        const = lambda v: ir.Constant(i64, v)  # noqa: E731
        u64 = lambda v, t: context.cast(builder, v, t, types.uint64)  # noqa: E731
        elem = context.get_value_type(dt)
        ys = context.make_array(aY)(context, builder, vY)
        xs = context.make_array(aX)(context, builder, vX)
        ind = context.make_array(aind)(context, builder, vind)
        dat = context.make_array(adat)(context, builder, vdat)
        if indirect:
            prm = context.make_array(aperm)(context, builder, vperm)
        n_cols = builder.extract_value(xs.shape, 1)
        x_stride = builder.extract_value(xs.strides, 0)  # bytes per row of X
        y_row = builder.mul(u64(vi, ai), builder.extract_value(ys.strides, 0))
        p_start, p_end = u64(vstart, astart), u64(vend, aend)
        row_bytes = builder.mul(n_cols, const(isz))
        bias = context.cast(builder, vb0, ab0, dt)
        x_base = builder.bitcast(xs.data, ir.IntType(8).as_pointer())
        y_base = builder.bitcast(ys.data, ir.IntType(8).as_pointer())

        def vec_ptr(base, byte_offset, vty):
            return builder.bitcast(builder.gep(base, [byte_offset]), vty.as_pointer())

        def broadcast(value, vty):
            undef = ir.Constant(vty, ir.Undefined)
            first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
            return builder.shuffle_vector(first, undef, zeros)

        def one_pass(blocks):
            """The loop over the row's stored values; blocks: (bytes, present or None, offset)."""
            accs = []
            for nbytes, present, offset in blocks:
                vty = ir.VectorType(elem, nbytes // isz)
                acc = cgutils.alloca_once(builder, vty)  # promoted to a register by LLVM
                builder.store(broadcast(bias, vty), acc)
                accs.append((vty, present, offset, acc))

            def guard(present):
                if present is None:
                    return contextlib.nullcontext()
                return builder.if_then(present, likely=True)

            def step(p0, count):
                terms = []
                for t in range(count):
                    p = builder.add(p0, const(t))
                    k = u64(builder.load(builder.gep(ind.data, [p])), aind.dtype)
                    q = p  # the weight's position: p, or perm[p]
                    if indirect:
                        q = u64(builder.load(builder.gep(prm.data, [p])), aperm.dtype)
                    terms.append((builder.load(builder.gep(dat.data, [q])),
                                  builder.mul(k, x_stride)))
                for vty, present, offset, acc in accs:
                    with guard(present):
                        prods = [builder.fmul(broadcast(a, vty),
                                              builder.load(vec_ptr(x_base, builder.add(row, offset),
                                                                   vty), align=isz))
                                 for a, row in terms]
                        while len(prods) > 1:  # (t0 + t1) + (t2 + t3), as axpy4
                            prods = [builder.fadd(prods[q], prods[q + 1])
                                     for q in range(0, len(prods), 2)]
                        builder.store(builder.fadd(builder.load(acc), prods[0]), acc)

            n_steps = builder.udiv(builder.sub(p_end, p_start), const(_UNROLL))
            with cgutils.for_range(builder, n_steps) as loop:
                step(builder.add(p_start, builder.mul(loop.index, const(_UNROLL))), _UNROLL)
            rest = builder.add(p_start, builder.mul(n_steps, const(_UNROLL)))
            with cgutils.for_range(builder, builder.sub(p_end, rest)) as loop:
                step(builder.add(rest, loop.index), 1)
            for vty, present, offset, acc in accs:
                with guard(present):
                    builder.store(builder.load(acc),
                                  vec_ptr(y_base, builder.add(y_row, offset), vty), align=isz)

        done = cgutils.alloca_once_value(builder, cgutils.false_bit)
        for nbytes in sorted(set(_BLOCKS) | {REG_BYTES}):  # a single block: no branch in the loop
            if nbytes >= isz:
                with builder.if_then(builder.icmp_unsigned("==", row_bytes, const(nbytes))):
                    one_pass([(nbytes, None, const(0))])
                    builder.store(cgutils.true_bit, done)
        with builder.if_then(builder.not_(builder.load(done))):
            blocks, offset = [], const(0)
            for q, nbytes in enumerate(_BLOCKS):
                if nbytes < isz:
                    continue
                if q < 2:  # the first and second 256-byte blocks
                    present = builder.icmp_unsigned(">=", row_bytes, const(256 * (q + 1)))
                else:
                    present = builder.icmp_unsigned(
                        "!=", builder.and_(row_bytes, const(nbytes)), const(0))
                blocks.append((nbytes, present, offset))
                offset = builder.add(offset, builder.select(present, const(nbytes), const(0)))
            one_pass(blocks)
        return context.get_dummy_value()

    return sig, codegen
