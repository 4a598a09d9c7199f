"""The emulated cuBLAS against numpy: every transpose pair, leading dimensions above the
minimum, alpha/beta cases (beta = 0 ignores NaN in C), gemv both ways, strided batches,
axpy/scal/dot/asum, and the argument checks. Run: python tools/cuda_emu/tests/test_blas.py LIB.so"""
import ctypes as C
import sys

import numpy as np

lib = C.CDLL(sys.argv[1])
lib.emu_malloc.restype = C.c_void_p
lib.emu_malloc.argtypes = [C.c_size_t]
for f in ("emu_h2d", "emu_d2h"):
    getattr(lib, f).argtypes = [C.c_void_p, C.c_void_p, C.c_size_t]
lib.emu_free.argtypes = [C.c_void_p]
fp = C.POINTER(C.c_float)
handle = C.c_void_p()
assert lib.cublasCreate_v2(C.byref(handle)) == 0
rng = np.random.default_rng(0)


def dev(a):
    a = np.ascontiguousarray(a, np.float32)
    p = lib.emu_malloc(max(a.nbytes, 1))
    assert lib.emu_h2d(p, a.ctypes.data, a.nbytes) == 0
    return p


def host(p, n):
    out = np.empty(n, np.float32)
    assert lib.emu_d2h(out.ctypes.data, p, out.nbytes) == 0
    return out


def f32(v):
    return C.byref(C.c_float(v))


def colmajor(buf, rows, cols, ld, off=0):
    """The (rows, cols) column-major matrix at buf[off:] with leading dimension ld."""
    out = np.zeros((rows, cols), np.float64)
    for c in range(cols):
        out[:, c] = buf[off + c * ld: off + c * ld + rows]
    return out


def check_gemm(ta, tb, m, n, k, alpha, beta, extra=(0, 1, 2), batch=1):
    ar, ac = (k, m) if ta else (m, k)
    br, bc = (n, k) if tb else (k, n)
    lda, ldb, ldc = max(1, ar) + extra[0], max(1, br) + extra[1], max(1, m) + extra[2]
    sa, sb, sc = lda * ac + 3, ldb * bc + 5, ldc * n + 7
    A = rng.normal(size=sa * batch).astype(np.float32)
    B = rng.normal(size=sb * batch).astype(np.float32)
    Cm = rng.normal(size=sc * batch).astype(np.float32)
    if beta == 0:
        Cm[:] = np.nan  # beta = 0: C is not read
    pa, pb, pc = dev(A), dev(B), dev(Cm)
    if batch == 1:
        st = lib.cublasSgemm_v2(handle, int(ta), int(tb), m, n, k, f32(alpha), C.c_void_p(pa), lda,
                             C.c_void_p(pb), ldb, f32(beta), C.c_void_p(pc), ldc)
    else:
        st = lib.cublasSgemmStridedBatched(
            handle, int(ta), int(tb), m, n, k, f32(alpha), C.c_void_p(pa), lda, C.c_longlong(sa),
            C.c_void_p(pb), ldb, C.c_longlong(sb), f32(beta), C.c_void_p(pc), ldc,
            C.c_longlong(sc), batch)
    assert st == 0, st
    out = host(pc, sc * batch)
    for bi in range(batch):
        Am = colmajor(A, ar, ac, lda, bi * sa)
        Bm = colmajor(B, br, bc, ldb, bi * sb)
        Am = Am.T if ta else Am
        Bm = Bm.T if tb else Bm
        ref = alpha * Am @ Bm
        if beta != 0:
            ref += beta * colmajor(Cm, m, n, ldc, bi * sc)
        got = colmajor(out, m, n, ldc, bi * sc)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(1, k))
        # entries outside the m x n window are untouched
        mask = np.ones(sc, bool)
        for c in range(n):
            mask[c * ldc: c * ldc + m] = False
        a, b = out[bi * sc: (bi + 1) * sc][mask], Cm[bi * sc: (bi + 1) * sc][mask]
        assert np.array_equal(a, b, equal_nan=True)


count = 0
for ta in (False, True):
    for tb in (False, True):
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (7, 2, 4), (16, 9, 1), (5, 3, 0)]:
            for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (0.0, 1.5)]:
                check_gemm(ta, tb, m, n, k, alpha, beta)
                check_gemm(ta, tb, m, n, k, alpha, beta, extra=(0, 0, 0))
                count += 2
        check_gemm(ta, tb, 4, 6, 3, 1.0, 0.0, batch=3)
        check_gemm(ta, tb, 4, 6, 3, 0.7, 1.0, batch=2)
        count += 2

# The row-major wrapper of math_functions.cu: C = op(A) op(B) computed as C^T = op(B)^T op(A)^T.
for ta in (False, True):
    for tb in (False, True):
        M, N, K = 4, 5, 3
        A = rng.normal(size=(K, M) if ta else (M, K)).astype(np.float32)
        B = rng.normal(size=(N, K) if tb else (K, N)).astype(np.float32)
        pa, pb, pc = dev(A), dev(B), dev(np.zeros((M, N)))
        lda, ldb = (M if ta else K), (K if tb else N)
        assert lib.cublasSgemm_v2(handle, int(tb), int(ta), N, M, K, f32(1), C.c_void_p(pb), ldb,
                               C.c_void_p(pa), lda, f32(0), C.c_void_p(pc), N) == 0
        ref = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B)
        np.testing.assert_allclose(host(pc, M * N).reshape(M, N), ref, rtol=1e-5, atol=1e-5)
        count += 1

# gemv: y = alpha op(A) x + beta y, A (m x n) column-major with lda >= m.
for trans in (0, 1):
    for (m, n, lda, incx, incy) in [(3, 4, 3, 1, 1), (5, 2, 7, 2, 3), (1, 6, 2, 1, 1)]:
        for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (2.0, -1.0)]:
            A = rng.normal(size=lda * n).astype(np.float32)
            xl, yl = (m, n) if trans else (n, m)
            x = rng.normal(size=(xl - 1) * incx + 1).astype(np.float32)
            y = rng.normal(size=(yl - 1) * incy + 1).astype(np.float32)
            if beta == 0:
                y[:] = np.nan
            pa, px, py = dev(A), dev(x), dev(y)
            assert lib.cublasSgemv_v2(handle, trans, m, n, f32(alpha), C.c_void_p(pa), lda,
                                   C.c_void_p(px), incx, f32(beta), C.c_void_p(py), incy) == 0
            Am = colmajor(A, m, n, lda)
            Am = Am.T if trans else Am
            ref = alpha * Am @ x[::incx].astype(np.float64)
            if beta != 0:
                ref += beta * y[::incy]
            got = host(py, y.size)
            np.testing.assert_allclose(got[::incy], ref, rtol=1e-5, atol=1e-5)
            count += 1

# Level 1.
x = rng.normal(size=37).astype(np.float32)
y = rng.normal(size=37).astype(np.float32)
px, py = dev(x), dev(y)
assert lib.cublasSaxpy_v2(handle, 37, f32(-1.5), C.c_void_p(px), 1, C.c_void_p(py), 1) == 0
np.testing.assert_allclose(host(py, 37), y + np.float32(-1.5) * x, rtol=1e-6, atol=1e-6)
py = dev(y)
assert lib.cublasSscal_v2(handle, 37, f32(0.25), C.c_void_p(py), 1) == 0
np.testing.assert_array_equal(host(py, 37), y * np.float32(0.25))
r = C.c_float()
assert lib.cublasSdot_v2(handle, 37, C.c_void_p(px), 1, C.c_void_p(px), 1, C.byref(r)) == 0
np.testing.assert_allclose(r.value, float(np.dot(x.astype(np.float64), x)), rtol=1e-5)
assert lib.cublasSasum_v2(handle, 37, C.c_void_p(px), 1, C.byref(r)) == 0
np.testing.assert_allclose(r.value, float(np.abs(x).sum()), rtol=1e-5)
count += 4

# Argument checks: a too small lda, a host pointer, a range past the allocation's end.
small = dev(np.zeros(6))
assert lib.cublasSgemm_v2(handle, 0, 0, 3, 2, 2, f32(1), C.c_void_p(small), 2, C.c_void_p(small), 2,
                       f32(0), C.c_void_p(small), 3) == 7
hostbuf = np.zeros(64, np.float32)
assert lib.cublasSaxpy_v2(handle, 4, f32(1), C.c_void_p(hostbuf.ctypes.data), 1, C.c_void_p(small),
                       1) == 7
assert lib.cublasSscal_v2(handle, 7, f32(1), C.c_void_p(small), 1) == 7
assert lib.cublasSscal_v2(handle, 6, f32(1), C.c_void_p(small), 1) == 0
count += 4
print(f"emulated cuBLAS: {count} checks against numpy passed")
