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
// kbench_*: column tiles. A thread owns 4 consecutive channels (one 16-byte fp32 vector) and walks
//   rows with a grid stride, keeping those channels' coefficients and 4 x 10 fp32 gradient sums in
//   registers. A block reduces its rows' sums in shared memory and writes one partial per channel
//   and coefficient to its own slot: no atomics, so coefficient gradients are deterministic. The
//   partials are reduced afterwards in float64 (binding.cpp). fp32, fp16 and bf16 in and out.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

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

__device__ __forceinline__ float rational(float x, const Coeffs& c) {
  return numerator(x, c) / denominator(fabsf(x), c);
}

// dx, and the 10 coefficient contributions added into acc[0..9].
__device__ __forceinline__ float rational_vjp(float x, float g, const Coeffs& c, float* acc) {
  const float ax = fabsf(x);
  const float p = numerator(x, c);
  const float q = denominator(ax, c);
  const float dp = fmaf(fmaf(fmaf(fmaf(5.f * c.a5, x, 4.f * c.a4), x, 3.f * c.a3), x, 2.f * c.a2), x, c.a1);
  const float dq = sign_of(x) * fmaf(fmaf(fmaf(4.f * c.b3, ax, 3.f * c.b2), ax, 2.f * c.b1), ax, c.b0);
  const float inv_q = 1.f / q;
  const float y = p * inv_q;
  const float gq = g * inv_q;
  float t = gq;
  acc[0] += t; t *= x; acc[1] += t; t *= x; acc[2] += t; t *= x; acc[3] += t; t *= x; acc[4] += t;
  t *= x; acc[5] += t;
  float u = -gq * y * ax;
  acc[6] += u * c.s0; u *= ax; acc[7] += u * c.s1; u *= ax; acc[8] += u * c.s2; u *= ax; acc[9] += u * c.s3;
  return gq * (dp - dq * y);
}

// ------------------------------------------------------------------------------------------------
// KAT 2024 (baseline)

constexpr int KAT_THREADS = 256;

__global__ void kat2024_fwd_kernel(const float* __restrict__ x, const float* __restrict__ a,
                                   const float* __restrict__ b, float* __restrict__ y, int64_t n, int D, int Dg) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = rational(x[i], load_coeffs(a, b, (int)(i % D) / Dg));
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
    dx[i] = rational_vjp(x[i], dy[i], load_coeffs(a, b, g), acc);
    for (int k = 0; k < 6; ++k) atomicAdd(&shared[g * 6 + k], acc[k]);
    for (int k = 0; k < 4; ++k) atomicAdd(&shared[6 * G + g * 4 + k], acc[6 + k]);
  }
  __syncthreads();
  if (threadIdx.x == 0) {  // one thread issues every slot's global atomic, as KAT's kernel
    for (int j = 0; j < 6 * G; ++j) atomicAdd(&da[j], shared[j]);
    for (int j = 0; j < 4 * G; ++j) atomicAdd(&db[j], shared[6 * G + j]);
  }
}

// ------------------------------------------------------------------------------------------------
// kbench: vector loads of 4 channels in any of the three dtypes

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

template <typename T> struct Vec4 {  // __half and __nv_bfloat16: one 8-byte access
  using Pair = typename PairOf<T>::type;
  __device__ static void load(const T* p, float* v) {
    const uint2 t = __ldg(reinterpret_cast<const uint2*>(p));
    const float2 lo = to_float2(*reinterpret_cast<const Pair*>(&t.x));
    const float2 hi = to_float2(*reinterpret_cast<const Pair*>(&t.y));
    v[0] = lo.x; v[1] = lo.y; v[2] = hi.x; v[3] = hi.y;
  }
  __device__ static void store(T* p, const float* v) {
    uint2 t;
    t.x = round_pair(v[0], v[1], T());
    t.y = round_pair(v[2], v[3], T());
    *reinterpret_cast<uint2*>(p) = t;
  }
};

template <> struct Vec4<float> {
  __device__ static void load(const float* p, float* v) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p));
    v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
  }
  __device__ static void store(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};

constexpr int KB_THREADS_X = 64;  // 64 threads x 4 channels = 256 channels per block
constexpr int KB_THREADS_Y = 4;   // row lanes per block
// Rows in flight per thread: 2 for fp32 (2 x 16-byte loads per tensor), 4 for 2-byte types, whose
// 4-channel vectors are only 8 bytes (v2 in docs/kernel-log.md).
template <typename T> __host__ __device__ constexpr int kb_unroll() { return sizeof(T) == 4 ? 2 : 4; }

// kUniform: the group width is a multiple of 4, so a thread's 4 channels share one group and one
// set of coefficients (fewer registers, more blocks per multiprocessor).
template <typename T, bool kUniform>
__global__ void __launch_bounds__(KB_THREADS_X * KB_THREADS_Y, 2)
kbench_fwd_kernel(const T* __restrict__ x, const float* __restrict__ a, const float* __restrict__ b,
                  T* __restrict__ y, int64_t rows, int D, int Dg) {
  const int c0 = (blockIdx.x * KB_THREADS_X + threadIdx.x) * 4;
  if (c0 >= D) return;  // no barrier in this kernel
  Coeffs cf[kUniform ? 1 : 4];
#pragma unroll
  for (int j = 0; j < (kUniform ? 1 : 4); ++j) cf[j] = load_coeffs(a, b, (c0 + j) / Dg);
  constexpr int KB_UNROLL = kb_unroll<T>();
  const int64_t stride = (int64_t)gridDim.y * KB_THREADS_Y;
  for (int64_t r = blockIdx.y * KB_THREADS_Y + threadIdx.y; r < rows; r += stride * KB_UNROLL) {
    float v[KB_UNROLL][4];
#pragma unroll
    for (int u = 0; u < KB_UNROLL; ++u)
      if (r + u * stride < rows) Vec4<T>::load(x + (r + u * stride) * D + c0, v[u]);
#pragma unroll
    for (int u = 0; u < KB_UNROLL; ++u) {
      if (r + u * stride >= rows) break;
#pragma unroll
      for (int j = 0; j < 4; ++j) v[u][j] = rational(v[u][j], cf[kUniform ? 0 : j]);
      Vec4<T>::store(y + (r + u * stride) * D + c0, v[u]);
    }
  }
}

template <typename T, bool kUniform>
__global__ void __launch_bounds__(KB_THREADS_X * KB_THREADS_Y, 2)
kbench_bwd_kernel(const T* __restrict__ x, const T* __restrict__ dy, const float* __restrict__ a,
                  const float* __restrict__ b, T* __restrict__ dx, float* __restrict__ partials,
                  int64_t rows, int D, int Dg) {
  // partials: (gridDim.y, 10, D); this block writes slot blockIdx.y for its channels.
  __shared__ float sums[KB_THREADS_Y][10][KB_THREADS_X * 4];
  const int c0 = (blockIdx.x * KB_THREADS_X + threadIdx.x) * 4;
  const bool active = c0 < D;
  float acc[4][10];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int k = 0; k < 10; ++k) acc[j][k] = 0.f;
  if (active) {
    Coeffs cf[kUniform ? 1 : 4];
#pragma unroll
    for (int j = 0; j < (kUniform ? 1 : 4); ++j) cf[j] = load_coeffs(a, b, (c0 + j) / Dg);
    constexpr int KB_UNROLL = kb_unroll<T>();
    const int64_t stride = (int64_t)gridDim.y * KB_THREADS_Y;
    for (int64_t r = blockIdx.y * KB_THREADS_Y + threadIdx.y; r < rows; r += stride * KB_UNROLL) {
      float xv[KB_UNROLL][4], gv[KB_UNROLL][4];
#pragma unroll
      for (int u = 0; u < KB_UNROLL; ++u)
        if (r + u * stride < rows) {
          Vec4<T>::load(x + (r + u * stride) * D + c0, xv[u]);
          Vec4<T>::load(dy + (r + u * stride) * D + c0, gv[u]);
        }
#pragma unroll
      for (int u = 0; u < KB_UNROLL; ++u) {
        if (r + u * stride >= rows) break;
        float d[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) d[j] = rational_vjp(xv[u][j], gv[u][j], cf[kUniform ? 0 : j], acc[j]);
        Vec4<T>::store(dx + (r + u * stride) * D + c0, d);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < 10; ++k)
#pragma unroll
    for (int j = 0; j < 4; ++j) sums[threadIdx.y][k][threadIdx.x * 4 + j] = acc[j][k];
  __syncthreads();
  if (threadIdx.y == 0 && active) {  // fixed order over the row lanes: deterministic
    for (int k = 0; k < 10; ++k) {
      float s[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        s[j] = 0.f;
        for (int t = 0; t < KB_THREADS_Y; ++t) s[j] += sums[t][k][threadIdx.x * 4 + j];
      }
      Vec4<float>::store(partials + ((int64_t)blockIdx.y * 10 + k) * D + c0, s);
    }
  }
}

template <typename T>
const char* kbench_fwd(const void* x, const float* a, const float* b, void* y, int64_t rows, int D, int Dg,
                       int row_blocks, cudaStream_t stream) {
  const dim3 block(KB_THREADS_X, KB_THREADS_Y), grid((D / 4 + KB_THREADS_X - 1) / KB_THREADS_X, row_blocks);
  if (Dg % 4 == 0)
    kbench_fwd_kernel<T, true><<<grid, block, 0, stream>>>(static_cast<const T*>(x), a, b, static_cast<T*>(y), rows,
                                                            D, Dg);
  else
    kbench_fwd_kernel<T, false><<<grid, block, 0, stream>>>(static_cast<const T*>(x), a, b, static_cast<T*>(y), rows,
                                                             D, Dg);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <typename T>
const char* kbench_bwd(const void* x, const void* dy, const float* a, const float* b, void* dx, float* partials,
                       int64_t rows, int D, int Dg, int row_blocks, cudaStream_t stream) {
  const dim3 block(KB_THREADS_X, KB_THREADS_Y), grid((D / 4 + KB_THREADS_X - 1) / KB_THREADS_X, row_blocks);
  if (Dg % 4 == 0)
    kbench_bwd_kernel<T, true><<<grid, block, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(dy), a, b,
                                                            static_cast<T*>(dx), partials, rows, D, Dg);
  else
    kbench_bwd_kernel<T, false><<<grid, block, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(dy), a,
                                                             b, static_cast<T*>(dx), partials, rows, D, Dg);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Launchers: return nullptr on success, else CUDA's error string. dtype: 0 fp32, 1 fp16, 2 bf16.

extern "C" const char* kat2024_forward(const float* x, const float* a, const float* b, float* y, int64_t n, int D,
                                       int Dg, cudaStream_t stream) {
  const int blocks = (int)((n + KAT_THREADS - 1) / KAT_THREADS);
  kat2024_fwd_kernel<<<blocks, KAT_THREADS, 0, stream>>>(x, a, b, y, n, D, Dg);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

extern "C" const char* kat2024_backward(const float* x, const float* dy, const float* a, const float* b, float* dx,
                                        float* da, float* db, int64_t n, int D, int Dg, int G, cudaStream_t stream) {
  const int blocks = (int)((n + KAT_THREADS - 1) / KAT_THREADS);
  kat2024_bwd_kernel<<<blocks, KAT_THREADS, 10 * G * sizeof(float), stream>>>(x, dy, a, b, dx, da, db, n, D, Dg, G);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

extern "C" const char* kbench_forward(int dtype, const void* x, const float* a, const float* b, void* y,
                                      int64_t rows, int D, int Dg, int row_blocks, cudaStream_t stream) {
  switch (dtype) {
    case 0: return kbench_fwd<float>(x, a, b, y, rows, D, Dg, row_blocks, stream);
    case 1: return kbench_fwd<__half>(x, a, b, y, rows, D, Dg, row_blocks, stream);
    case 2: return kbench_fwd<__nv_bfloat16>(x, a, b, y, rows, D, Dg, row_blocks, stream);
    default: return "kbench_forward: unknown dtype code";
  }
}

extern "C" const char* kbench_backward(int dtype, const void* x, const void* dy, const float* a, const float* b,
                                       void* dx, float* partials, int64_t rows, int D, int Dg, int row_blocks,
                                       cudaStream_t stream) {
  switch (dtype) {
    case 0: return kbench_bwd<float>(x, dy, a, b, dx, partials, rows, D, Dg, row_blocks, stream);
    case 1: return kbench_bwd<__half>(x, dy, a, b, dx, partials, rows, D, Dg, row_blocks, stream);
    case 2: return kbench_bwd<__nv_bfloat16>(x, dy, a, b, dx, partials, rows, D, Dg, row_blocks, stream);
    default: return "kbench_backward: unknown dtype code";
  }
}
