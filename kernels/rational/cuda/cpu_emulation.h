// CPU emulation of the CUDA features that the kbench kernels of rational_kernels.cu use, so that the
// tests run those kernels' own source on machines without a GPU (tests/test_cuda_emulation.py):
//
//   g++ -x c++ -std=c++20 -DKBENCH_CPU_EMULATION -I<cuda>/include -shared -fPIC rational_kernels.cu
//
// Blocks run one after another; each CUDA thread of a block is a std::thread, __syncthreads is a
// std::barrier, __shared__ variables are function statics (one block at a time uses them), and
// asynchronous copies land early or late (below). It checks indexing, data flow, the copy pipeline's
// waits and arithmetic, not speed, and not races between blocks (they never run together here). CUDA's headers are used for the vector
// and half-precision types only: they compile with a host compiler.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <math.h>

#include <barrier>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;
inline thread_local std::barrier<>* kb_emulated_barrier = nullptr;
constexpr int KB_EMULATED_RESIDENT_BLOCKS = 3;  // what the occupancy query answers

inline void __syncthreads() { kb_emulated_barrier->arrive_and_wait(); }
template <typename T> inline T __ldg(const T* p) { return *p; }
inline float __fdividef(float p, float q) { return p / q; }
// Asynchronous copies land either at once (eager) or as late as the kernel's waits allow (lazy):
// a missing or too-short wait reads stale data in the lazy mode, a slot refilled too early is
// overwritten before it is read in the eager one. The tests run both.
struct KbCopy {
  void* dst;
  const void* src;
  size_t bytes;
};
inline bool kb_lazy_copies = false;
inline thread_local std::vector<KbCopy> kb_open_group;
inline thread_local std::vector<std::vector<KbCopy>> kb_committed;  // oldest first

extern "C" void kb_emulate_lazy_copies(int lazy) { kb_lazy_copies = lazy != 0; }

inline void __pipeline_memcpy_async(void* dst, const void* src, size_t bytes) {
  if (kb_lazy_copies) kb_open_group.push_back({dst, src, bytes});
  else std::memcpy(dst, src, bytes);
}
inline void __pipeline_commit() {
  if (!kb_lazy_copies) return;
  kb_committed.push_back(std::move(kb_open_group));
  kb_open_group.clear();
}
inline void __pipeline_wait_prior(size_t pending) {  // all but the `pending` newest groups have landed
  while (kb_committed.size() > pending) {
    for (const KbCopy& c : kb_committed.front()) std::memcpy(c.dst, c.src, c.bytes);
    kb_committed.erase(kb_committed.begin());
  }
}

inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "CUDA error (CPU emulation)"; }
template <typename Kernel>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, Kernel, int, size_t) {
  *blocks = KB_EMULATED_RESIDENT_BLOCKS;
  return cudaSuccess;
}

// kernel<<<grid, block>>>(args...): every block in turn, all its threads at once.
template <typename... Params, typename... Args>
void kb_emulate_launch(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args) {
  const int threads = (int)(block.x * block.y * block.z);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> barrier(threads);
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
          pool.emplace_back([&, t] {
            threadIdx = {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
            blockIdx = {bx, by, bz};
            blockDim = block;
            gridDim = grid;
            kb_emulated_barrier = &barrier;
            kernel(args...);
            barrier.arrive_and_drop();  // a finished thread no longer holds the others at a barrier
          });
        for (std::thread& t : pool) t.join();
      }
}

#define KB_LAUNCH(kernel, grid, block, stream, ...) kb_emulate_launch(kernel, grid, block, __VA_ARGS__)
