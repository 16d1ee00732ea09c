// GR-KAN rational kernels in CUDA C++: KAT's 2024 design (baseline) and kbench's own design.
//
// F(x) = (a0 + a1 x + ... + a5 x^5) / (1 + |b0||x| + |b1||x|^2 + |b2||x|^3 + |b3||x|^4), channels
// of the last dimension D split into G contiguous groups of Dg = D / G, coefficients a (G, 6) and
// b (G, 4) in fp32. This file holds no PyTorch headers: it compiles on its own with nvcc (the
// tests do that on machines without a GPU); binding.cpp wraps the extern "C" launchers below.
//
// kat2024_*: one thread per element, 256 threads per block. Backward: each thread adds its 10
//   coefficient contributions to shared-memory accumulators with shared atomics, then thread 0 of
//   the block adds all 10 * G shared slots to global memory with global atomics (notes 2.2).
//   fp32 only, as the kernel that trained the published KAT checkpoints.
// kbench_* (v3, docs/kernel-log.md): column tiles. A thread owns VEC consecutive channels, one 16-byte
//   vector (4 fp32 or 8 fp16/bf16) when they share a group, and walks rows with a grid stride; its
//   rows arrive through a 3-stage cp.async pipeline in shared memory, so two rows are in flight while
//   it computes on a third. It keeps its group's coefficients and 10 fp32 gradient sums in registers
//   (80 at most: three 256-thread blocks per multiprocessor). A block reduces its row lanes' sums in
//   a fixed order and writes them to its own slot of a partials buffer: no atomics, so coefficient
//   gradients are deterministic. A second kernel sums each group's partials in float64 and writes dA
//   and dB. The grid is one wave of resident blocks (occupancy query). fp32, fp16 and bf16 in and out.

#ifdef KBENCH_CPU_EMULATION  // the tests' CPU build of the kbench kernels (cpu_emulation.h)
#include "cpu_emulation.h"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_pipeline.h>
#include <cuda_runtime.h>
#define KB_LAUNCH(kernel, grid, block, stream, ...) kernel<<<grid, block, 0, stream>>>(__VA_ARGS__)
#endif
#include <stdint.h>

#include <algorithm>
#include <initializer_list>

namespace {

struct Coeffs {
  float a0, a1, a2, a3, a4, a5;  // numerator
  float b0, b1, b2, b3;          // |b_j|
  float s0, s1, s2, s3;          // sign(b_j), sign(0) = +1
};

__device__ __forceinline__ float sign_of(float v) { return v < 0.f ? -1.f : 1.f; }

__device__ __forceinline__ Coeffs load_coeffs(const float* __restrict__ a, const float* __restrict__ b, int g) {
  Coeffs c;
  c.a0 = __ldg(a + g * 6 + 0); c.a1 = __ldg(a + g * 6 + 1); c.a2 = __ldg(a + g * 6 + 2);
  c.a3 = __ldg(a + g * 6 + 3); c.a4 = __ldg(a + g * 6 + 4); c.a5 = __ldg(a + g * 6 + 5);
  const float b0 = __ldg(b + g * 4 + 0), b1 = __ldg(b + g * 4 + 1);
  const float b2 = __ldg(b + g * 4 + 2), b3 = __ldg(b + g * 4 + 3);
  c.b0 = fabsf(b0); c.b1 = fabsf(b1); c.b2 = fabsf(b2); c.b3 = fabsf(b3);
  c.s0 = sign_of(b0); c.s1 = sign_of(b1); c.s2 = sign_of(b2); c.s3 = sign_of(b3);
  return c;
}

__device__ __forceinline__ float numerator(float x, const Coeffs& c) {
  return fmaf(fmaf(fmaf(fmaf(fmaf(c.a5, x, c.a4), x, c.a3), x, c.a2), x, c.a1), x, c.a0);
}

__device__ __forceinline__ float denominator(float ax, const Coeffs& c) {
  return fmaf(fmaf(fmaf(fmaf(c.b3, ax, c.b2), ax, c.b1), ax, c.b0), ax, 1.f);
}

// kFast: division by the multi-function unit's reciprocal (at most 2 ulp, no slow path; Q >= 1 here,
// so the range where __fdividef returns 0 is never reached). Otherwise IEEE division, as KAT's kernel.
template <bool kFast> __device__ __forceinline__ float divide(float p, float q) {
  return kFast ? __fdividef(p, q) : p / q;
}

template <bool kFast> __device__ __forceinline__ float rational(float x, const Coeffs& c) {
  return divide<kFast>(numerator(x, c), denominator(fabsf(x), c));
}

// dx, and the 10 coefficient contributions added into acc[0..9]. The denominator's four are added
// without the factor sign(b_j): the caller multiplies the finished sums by it (apply_signs, exact for
// +-1), which keeps the four signs out of the registers of the row loop.
template <bool kFast>
__device__ __forceinline__ float rational_vjp(float x, float g, const Coeffs& c, float* acc) {
  const float ax = fabsf(x);
  const float p = numerator(x, c);
  const float q = denominator(ax, c);
  const float dp = fmaf(fmaf(fmaf(fmaf(5.f * c.a5, x, 4.f * c.a4), x, 3.f * c.a3), x, 2.f * c.a2), x, c.a1);
  const float dq = sign_of(x) * fmaf(fmaf(fmaf(4.f * c.b3, ax, 3.f * c.b2), ax, 2.f * c.b1), ax, c.b0);
  const float inv_q = divide<kFast>(1.f, q);
  const float y = p * inv_q;
  const float gq = g * inv_q;
  float t = gq;
  acc[0] += t; t *= x; acc[1] += t; t *= x; acc[2] += t; t *= x; acc[3] += t; t *= x; acc[4] += t;
  t *= x; acc[5] += t;
  float u = -gq * y * ax;
  acc[6] += u; u *= ax; acc[7] += u; u *= ax; acc[8] += u; u *= ax; acc[9] += u;
  return gq * (dp - dq * y);
}

__device__ __forceinline__ void apply_signs(const Coeffs& c, float* acc) {
  acc[6] *= c.s0; acc[7] *= c.s1; acc[8] *= c.s2; acc[9] *= c.s3;
}

// ------------------------------------------------------------------------------------------------
// KAT 2024 (baseline; left out of the CPU emulation, which has no dynamic shared memory or atomics)

#ifndef KBENCH_CPU_EMULATION

constexpr int KAT_THREADS = 256;

__global__ void kat2024_fwd_kernel(const float* __restrict__ x, const float* __restrict__ a,
                                   const float* __restrict__ b, float* __restrict__ y, int64_t n, int D, int Dg) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = rational<false>(x[i], load_coeffs(a, b, (int)(i % D) / Dg));
}

__global__ void kat2024_bwd_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                   const float* __restrict__ a, const float* __restrict__ b,
                                   float* __restrict__ dx, float* __restrict__ da, float* __restrict__ db,
                                   int64_t n, int D, int Dg, int G) {
  extern __shared__ float shared[];  // 6G numerator slots, then 4G denominator slots
  for (int j = threadIdx.x; j < 10 * G; j += blockDim.x) shared[j] = 0.f;
  __syncthreads();
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) {  // no early return: every thread must reach the barriers (KAT's had one before them)
    const int g = (int)(i % D) / Dg;
    float acc[10] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const Coeffs c = load_coeffs(a, b, g);
    dx[i] = rational_vjp<false>(x[i], dy[i], c, acc);
    apply_signs(c, acc);
    for (int k = 0; k < 6; ++k) atomicAdd(&shared[g * 6 + k], acc[k]);
    for (int k = 0; k < 4; ++k) atomicAdd(&shared[6 * G + g * 4 + k], acc[6 + k]);
  }
  __syncthreads();
  if (threadIdx.x == 0) {  // one thread issues every slot's global atomic, as KAT's kernel
    for (int j = 0; j < 6 * G; ++j) atomicAdd(&da[j], shared[j]);
    for (int j = 0; j < 4 * G; ++j) atomicAdd(&db[j], shared[6 * G + j]);
  }
}
#endif  // KBENCH_CPU_EMULATION

// ------------------------------------------------------------------------------------------------
// kbench: each thread owns VEC consecutive channels, read and written as one vector

// 2-byte types travel as pairs: one 32-bit word holds two channels, converted together.
__device__ __forceinline__ float2 to_float2(__half2 v) { return __half22float2(v); }
__device__ __forceinline__ float2 to_float2(__nv_bfloat162 v) { return __bfloat1622float2(v); }
__device__ __forceinline__ uint32_t round_pair(float lo, float hi, __half) {
  __half2 t = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&t);
}
__device__ __forceinline__ uint32_t round_pair(float lo, float hi, __nv_bfloat16) {
  __nv_bfloat162 t = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&t);
}
template <typename T> struct PairOf;
template <> struct PairOf<__half> { using type = __half2; };
template <> struct PairOf<__nv_bfloat16> { using type = __nv_bfloat162; };
template <int Bytes> struct RawOf;  // one access of this many bytes
template <> struct RawOf<8> { using type = uint2; };
template <> struct RawOf<16> { using type = uint4; };

// N channels of type T as one access of Raw bits: unpack() them to fp32, store() fp32 values rounded to T.
template <typename T, int N> struct Vec {  // 2-byte types: N / 2 pairs in one 2N-byte access
  using Pair = typename PairOf<T>::type;
  using Raw = typename RawOf<2 * N>::type;
  __device__ static void unpack(const Raw& t, float* v) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(&t);
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const float2 f = to_float2(*reinterpret_cast<const Pair*>(w + i));
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
  }
  __device__ static void store(T* p, const float* v) {
    Raw t;
    uint32_t* w = reinterpret_cast<uint32_t*>(&t);
#pragma unroll
    for (int i = 0; i < N / 2; ++i) w[i] = round_pair(v[2 * i], v[2 * i + 1], T());
    *reinterpret_cast<Raw*>(p) = t;
  }
};
template <> struct Vec<float, 4> {
  using Raw = float4;
  __device__ static void unpack(const Raw& t, float* v) { v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w; }
  __device__ static void store(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};

constexpr int KB_THREADS_X = 64;  // column threads per block: a warp reads 32 x 16 contiguous bytes
constexpr int KB_THREADS_Y = 4;   // row lanes per block
constexpr int KB_BLOCK = KB_THREADS_X * KB_THREADS_Y;
constexpr int KB_MAX_ROWS_PER_LANE = 128;  // backward: the most rows one thread sums (make_plan)
constexpr int KB_STAGES = 3;      // shared-memory slots per thread and tensor: 2 rows in flight while 1 computes

// kUniform: the thread's channels share one group (the group width is a multiple of VEC), so it keeps
// one set of coefficients and one set of 10 sums. Then VEC fills a 16-byte vector: 4 fp32 or 8 fp16/bf16.
// Otherwise VEC = 4 and the thread keeps 4 of each (the rare case of narrow, odd-sized groups).
template <typename T, bool kUniform> __host__ __device__ constexpr int kb_vec() {
  return kUniform ? 16 / (int)sizeof(T) : 4;
}
// Register budget: three blocks of 256 threads per multiprocessor (80 registers each) when uniform.
template <bool kUniform> __host__ __device__ constexpr int kb_min_blocks() { return kUniform ? 3 : 2; }

// Rows reach a thread through KB_STAGES shared-memory slots filled by asynchronous copies (cp.async):
// the copies of the next rows stay in flight while the thread computes on one, without holding
// registers, so a thread never waits on a load it could have issued earlier. Each thread reads back
// only its own slots, so no barrier is needed, only the wait on its own copy group.
template <typename T, int VEC, int NT> using Slots = typename Vec<T, VEC>::Raw[KB_STAGES][NT][KB_BLOCK];

// Starts copying row `row` of the NT tensors into one stage of slots; one copy group per call, empty
// past the last row, so that groups and rows stay in step.
template <typename T, int VEC, int NT>
__device__ __forceinline__ void fetch_row(typename Vec<T, VEC>::Raw (&slot)[NT][KB_BLOCK], const T* const (&src)[NT],
                                          int64_t row, int64_t rows, int D, int c0, int tid) {
  if (row < rows)
#pragma unroll
    for (int t = 0; t < NT; ++t)
      __pipeline_memcpy_async(&slot[t][tid], src[t] + row * D + c0, sizeof(typename Vec<T, VEC>::Raw));
  __pipeline_commit();
}

// Walks rows first, first + stride, ... of the NT tensors: body(row, slot) for each, with the row's
// copy landed in slot; the row KB_STAGES steps ahead is fetched into the slot after the body used it.
template <typename T, int VEC, int NT, typename Body>
__device__ __forceinline__ void stream_rows(Slots<T, VEC, NT>& slots, const T* const (&src)[NT], int64_t first,
                                            int64_t stride, int64_t rows, int D, int c0, Body body) {
  const int tid = threadIdx.y * KB_THREADS_X + threadIdx.x;
#pragma unroll
  for (int s = 0; s < KB_STAGES; ++s) fetch_row<T, VEC, NT>(slots[s], src, first + s * stride, rows, D, c0, tid);
  int stage = 0;
  for (int64_t r = first; r < rows; r += stride) {
    __pipeline_wait_prior(KB_STAGES - 1);  // the oldest group, this row's, has landed
    body(r, slots[stage], tid);
    fetch_row<T, VEC, NT>(slots[stage], src, r + KB_STAGES * stride, rows, D, c0, tid);
    stage = stage + 1 == KB_STAGES ? 0 : stage + 1;
  }
  __pipeline_wait_prior(0);  // no copy may still be writing when the slots are reused
}

template <typename T, bool kUniform>
__global__ void __launch_bounds__(KB_BLOCK, kb_min_blocks<kUniform>())
kbench_fwd_kernel(const T* __restrict__ x, const float* __restrict__ a, const float* __restrict__ b,
                  T* __restrict__ y, int64_t rows, int D, int Dg) {
  constexpr int VEC = kb_vec<T, kUniform>(), NC = kUniform ? 1 : VEC;
  using V = Vec<T, VEC>;
  __shared__ Slots<T, VEC, 1> slots;
  const int c0 = (blockIdx.x * KB_THREADS_X + threadIdx.x) * VEC;
  if (c0 >= D) return;  // no barrier in this kernel
  Coeffs cf[NC];
#pragma unroll
  for (int j = 0; j < NC; ++j) cf[j] = load_coeffs(a, b, (c0 + j) / Dg);
  const T* const src[1] = {x};
  stream_rows<T, VEC, 1>(slots, src, blockIdx.y * KB_THREADS_Y + threadIdx.y, (int64_t)gridDim.y * KB_THREADS_Y,
                         rows, D, c0, [&](int64_t r, typename V::Raw (&slot)[1][KB_BLOCK], int tid) {
    float v[VEC];
    V::unpack(slot[0][tid], v);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = rational<true>(v[j], cf[kUniform ? 0 : j]);
    V::store(y + r * D + c0, v);
  });
}

// partials: (gridDim.y, 10, C) with C = D / VEC * NC columns; a block writes row slot blockIdx.y of its
// columns. A column covers VEC / NC channels of one group, so kbench_reduce_kernel can sum by group.
template <typename T, bool kUniform>
__global__ void __launch_bounds__(KB_BLOCK, kb_min_blocks<kUniform>())
kbench_bwd_kernel(const T* __restrict__ x, const T* __restrict__ dy, const float* __restrict__ a,
                  const float* __restrict__ b, T* __restrict__ dx, float* __restrict__ partials,
                  int64_t rows, int D, int Dg) {
  constexpr int VEC = kb_vec<T, kUniform>(), NC = kUniform ? 1 : VEC;
  using V = Vec<T, VEC>;
  __shared__ union {  // the row slots, then (after the rows) the block's sums
    Slots<T, VEC, 2> slots;
    float sums[KB_THREADS_Y][10][KB_THREADS_X * NC];
  } smem;
  const int c0 = (blockIdx.x * KB_THREADS_X + threadIdx.x) * VEC;
  const bool active = c0 < D;
  float acc[NC][10];
#pragma unroll
  for (int j = 0; j < NC; ++j)
#pragma unroll
    for (int k = 0; k < 10; ++k) acc[j][k] = 0.f;
  if (active) {
    Coeffs cf[NC];
#pragma unroll
    for (int j = 0; j < NC; ++j) cf[j] = load_coeffs(a, b, (c0 + j) / Dg);
    const T* const src[2] = {x, dy};
    stream_rows<T, VEC, 2>(smem.slots, src, blockIdx.y * KB_THREADS_Y + threadIdx.y,
                           (int64_t)gridDim.y * KB_THREADS_Y, rows, D, c0,
                           [&](int64_t r, typename V::Raw (&slot)[2][KB_BLOCK], int tid) {
      float xv[VEC], gv[VEC], d[VEC];
      V::unpack(slot[0][tid], xv);
      V::unpack(slot[1][tid], gv);
      if constexpr (kUniform) {
        // The row's VEC terms are summed first, then added to the running sums: the running sums see
        // one addition per row, as with one channel per thread. -0 is the identity of addition, so the
        // compiler drops the first add.
        float row[10] = {-0.f, -0.f, -0.f, -0.f, -0.f, -0.f, -0.f, -0.f, -0.f, -0.f};
#pragma unroll
        for (int j = 0; j < VEC; ++j) d[j] = rational_vjp<true>(xv[j], gv[j], cf[0], row);
#pragma unroll
        for (int k = 0; k < 10; ++k) acc[0][k] += row[k];
      } else {
#pragma unroll
        for (int j = 0; j < VEC; ++j) d[j] = rational_vjp<true>(xv[j], gv[j], cf[j], acc[j]);
      }
      V::store(dx + r * D + c0, d);
    });
#pragma unroll
    for (int j = 0; j < NC; ++j) apply_signs(cf[j], acc[j]);
  }
  __syncthreads();  // every thread is done with its slots before they become the sums
#pragma unroll
  for (int k = 0; k < 10; ++k)
#pragma unroll
    for (int j = 0; j < NC; ++j) smem.sums[threadIdx.y][k][threadIdx.x * NC + j] = acc[j][k];
  __syncthreads();
  if (threadIdx.y == 0 && active) {  // fixed order over the row lanes: deterministic
    const int64_t cols = (int64_t)D / VEC * NC, col0 = (int64_t)(c0 / VEC) * NC;
    for (int k = 0; k < 10; ++k)
#pragma unroll
      for (int j = 0; j < NC; ++j) {
        float s = 0.f;
        for (int t = 0; t < KB_THREADS_Y; ++t) s += smem.sums[t][k][threadIdx.x * NC + j];
        partials[((int64_t)blockIdx.y * 10 + k) * cols + col0 + j] = s;
      }
  }
}

constexpr int KB_REDUCE_THREADS = 256;

// One block per (coefficient k, group g): the float64 sum of the group's partials in a fixed order
// (a strided sum per thread, then a shared-memory tree), rounded once to fp32 into dA or dB.
__global__ void __launch_bounds__(KB_REDUCE_THREADS)
kbench_reduce_kernel(const float* __restrict__ partials, int row_blocks, int64_t cols, int col_width, int Dg,
                     float* __restrict__ da, float* __restrict__ db) {
  __shared__ double tree[KB_REDUCE_THREADS];
  const int k = blockIdx.x, g = blockIdx.y;
  const int per_group = Dg / col_width;  // columns of this group
  const int64_t n = (int64_t)row_blocks * per_group;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += KB_REDUCE_THREADS) {
    const int64_t slot = i / per_group, col = (int64_t)g * per_group + i % per_group;
    s += partials[(slot * 10 + k) * cols + col];
  }
  tree[threadIdx.x] = s;
  __syncthreads();
  for (int half = KB_REDUCE_THREADS / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) tree[threadIdx.x] += tree[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (k < 6) da[g * 6 + k] = (float)tree[0];
    else db[g * 4 + k - 6] = (float)tree[0];
  }
}

// The grid of a kbench kernel: column blocks over D, and enough row blocks that the whole grid is one
// wave of resident blocks (threads then stride over rows), no more than the rows need.
struct Plan {
  dim3 grid;
  int64_t cols;  // partial columns (backward)
  int col_width;  // channels per partial column
};

// Blocks of a kbench kernel that fit on one multiprocessor (registers and shared memory decide).
template <typename Kernel> int resident_blocks(Kernel kernel) {
  int resident = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, KB_BLOCK, 0) != cudaSuccess || resident < 1)
    resident = 1;
  return resident;
}

// max_rows_per_lane > 0 (the backward): more row blocks, in more waves, when a thread would otherwise
// sum more rows than that. An fp32 running sum's rounding error grows with its length; this keeps
// a thread's sums as short at batch 1024 as at batch 128 on an H100.
Plan make_plan(int resident, int vec, int nc, int64_t rows, int D, int sm_count, int64_t max_rows_per_lane) {
  const int col_blocks = (D / vec + KB_THREADS_X - 1) / KB_THREADS_X;
  const int64_t wave = (int64_t)resident * sm_count / col_blocks;
  const int64_t block_rows = KB_THREADS_Y * max_rows_per_lane;
  const int64_t for_precision = max_rows_per_lane > 0 ? (rows + block_rows - 1) / block_rows : 1;
  const int64_t needed = (rows + KB_THREADS_Y - 1) / KB_THREADS_Y;  // one row per lane at most
  const int64_t row_blocks = std::min<int64_t>({std::max(wave, for_precision), needed, 65535});
  return {dim3(col_blocks, (unsigned)std::max<int64_t>(1, row_blocks)), (int64_t)D / vec * nc, vec / nc};
}

// The uniform kernels need the group width to be a multiple of VEC and 16-byte aligned rows.
template <typename T>
bool uniform_ok(int D, int Dg, std::initializer_list<const void*> ptrs) {
  constexpr int vec = kb_vec<T, true>();
  if (Dg % vec != 0 || D % vec != 0) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

const char* last_error() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <typename T, bool kUniform>
const char* kbench_fwd(const void* x, const float* a, const float* b, void* y, int64_t rows, int D, int Dg,
                       int sm_count, cudaStream_t stream) {
  constexpr int VEC = kb_vec<T, kUniform>();
  static const int resident = resident_blocks(kbench_fwd_kernel<T, kUniform>);  // once per instantiation
  const Plan plan = make_plan(resident, VEC, kUniform ? 1 : VEC, rows, D, sm_count, 0);
  auto* kernel = kbench_fwd_kernel<T, kUniform>;
  KB_LAUNCH(kernel, plan.grid, dim3(KB_THREADS_X, KB_THREADS_Y), stream, static_cast<const T*>(x), a, b,
            static_cast<T*>(y), rows, D, Dg);
  return last_error();
}

template <typename T>
const char* kbench_fwd(const void* x, const float* a, const float* b, void* y, int64_t rows, int D, int Dg,
                       int sm_count, cudaStream_t stream) {
  return uniform_ok<T>(D, Dg, {x, y}) ? kbench_fwd<T, true>(x, a, b, y, rows, D, Dg, sm_count, stream)
                                      : kbench_fwd<T, false>(x, a, b, y, rows, D, Dg, sm_count, stream);
}

// workspace == nullptr: only writes the workspace size (floats) to *workspace_floats, launches nothing.
template <typename T, bool kUniform>
const char* kbench_bwd(const void* x, const void* dy, const float* a, const float* b, void* dx, float* da,
                       float* db, float* workspace, int64_t* workspace_floats, int64_t rows, int D, int Dg,
                       int sm_count, cudaStream_t stream) {
  constexpr int VEC = kb_vec<T, kUniform>();
  static const int resident = resident_blocks(kbench_bwd_kernel<T, kUniform>);  // once per instantiation
  const Plan plan = make_plan(resident, VEC, kUniform ? 1 : VEC, rows, D, sm_count, KB_MAX_ROWS_PER_LANE);
  const int64_t needed = (int64_t)plan.grid.y * 10 * plan.cols;
  if (workspace == nullptr) {
    *workspace_floats = needed;
    return nullptr;
  }
  if (*workspace_floats < needed) return "kbench_backward: workspace too small";
  auto* kernel = kbench_bwd_kernel<T, kUniform>;
  KB_LAUNCH(kernel, plan.grid, dim3(KB_THREADS_X, KB_THREADS_Y), stream, static_cast<const T*>(x),
            static_cast<const T*>(dy), a, b, static_cast<T*>(dx), workspace, rows, D, Dg);
  if (const char* err = last_error()) return err;
  auto* reduce = kbench_reduce_kernel;
  KB_LAUNCH(reduce, dim3(10, D / Dg), dim3(KB_REDUCE_THREADS), stream, workspace, (int)plan.grid.y, plan.cols,
            plan.col_width, Dg, da, db);
  return last_error();
}

template <typename T>
const char* kbench_bwd(const void* x, const void* dy, const float* a, const float* b, void* dx, float* da,
                       float* db, float* workspace, int64_t* workspace_floats, int64_t rows, int D, int Dg,
                       int sm_count, cudaStream_t stream) {
  // dx is not among the pointers: the binding allocates it fresh, so it is aligned like any allocation.
  return uniform_ok<T>(D, Dg, {x, dy})
             ? kbench_bwd<T, true>(x, dy, a, b, dx, da, db, workspace, workspace_floats, rows, D, Dg, sm_count, stream)
             : kbench_bwd<T, false>(x, dy, a, b, dx, da, db, workspace, workspace_floats, rows, D, Dg, sm_count,
                                    stream);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Launchers: return nullptr on success, else CUDA's error string. dtype: 0 fp32, 1 fp16, 2 bf16.

#ifndef KBENCH_CPU_EMULATION
extern "C" const char* kat2024_forward(const float* x, const float* a, const float* b, float* y, int64_t n, int D,
                                       int Dg, cudaStream_t stream) {
  const int blocks = (int)((n + KAT_THREADS - 1) / KAT_THREADS);
  kat2024_fwd_kernel<<<blocks, KAT_THREADS, 0, stream>>>(x, a, b, y, n, D, Dg);
  return last_error();
}

extern "C" const char* kat2024_backward(const float* x, const float* dy, const float* a, const float* b, float* dx,
                                        float* da, float* db, int64_t n, int D, int Dg, int G, cudaStream_t stream) {
  const int blocks = (int)((n + KAT_THREADS - 1) / KAT_THREADS);
  kat2024_bwd_kernel<<<blocks, KAT_THREADS, 10 * G * sizeof(float), stream>>>(x, dy, a, b, dx, da, db, n, D, Dg, G);
  return last_error();
}
#endif

extern "C" const char* kbench_forward(int dtype, const void* x, const float* a, const float* b, void* y,
                                      int64_t rows, int D, int Dg, int sm_count, cudaStream_t stream) {
  switch (dtype) {
    case 0: return kbench_fwd<float>(x, a, b, y, rows, D, Dg, sm_count, stream);
    case 1: return kbench_fwd<__half>(x, a, b, y, rows, D, Dg, sm_count, stream);
    case 2: return kbench_fwd<__nv_bfloat16>(x, a, b, y, rows, D, Dg, sm_count, stream);
    default: return "kbench_forward: unknown dtype code";
  }
}

// dx, dA (G, 6) and dB (G, 4), all written. Call first with workspace == nullptr for the workspace size.
extern "C" const char* kbench_backward(int dtype, const void* x, const void* dy, const float* a, const float* b,
                                       void* dx, float* da, float* db, float* workspace, int64_t* workspace_floats,
                                       int64_t rows, int D, int Dg, int sm_count, cudaStream_t stream) {
  switch (dtype) {
    case 0: return kbench_bwd<float>(x, dy, a, b, dx, da, db, workspace, workspace_floats, rows, D, Dg, sm_count,
                                     stream);
    case 1: return kbench_bwd<__half>(x, dy, a, b, dx, da, db, workspace, workspace_floats, rows, D, Dg, sm_count,
                                      stream);
    case 2: return kbench_bwd<__nv_bfloat16>(x, dy, a, b, dx, da, db, workspace, workspace_floats, rows, D, Dg,
                                             sm_count, stream);
    default: return "kbench_backward: unknown dtype code";
  }
}
