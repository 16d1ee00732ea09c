// PyTorch binding of rational_kernels.cu: argument checks, allocation, the current stream.
// Built at first use by kernels/rational/cuda_ext.py through torch.utils.cpp_extension.

#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

extern "C" const char* kat2024_forward(const float*, const float*, const float*, float*, int64_t, int, int,
                                       cudaStream_t);
extern "C" const char* kat2024_backward(const float*, const float*, const float*, const float*, float*, float*,
                                        float*, int64_t, int, int, int, cudaStream_t);
extern "C" const char* kbench_forward(int, const void*, const float*, const float*, void*, int64_t, int, int, int,
                                      cudaStream_t);
extern "C" const char* kbench_backward(int, const void*, const void*, const float*, const float*, void*, float*,
                                       float*, float*, int64_t*, int64_t, int, int, int, cudaStream_t);

namespace {

void check_inputs(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(x.is_cuda() && a.is_cuda() && b.is_cuda(), "rational: tensors must be on a CUDA device");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "rational: x must be a contiguous (rows, D) tensor");
  TORCH_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32,
              "rational: coefficients must be float32");
  TORCH_CHECK(a.dim() == 2 && a.size(1) == 6 && b.dim() == 2 && b.size(1) == 4 && a.size(0) == b.size(0),
              "rational: expected a (G, 6) and b (G, 4)");
  TORCH_CHECK(x.size(1) % a.size(0) == 0, "rational: D must be divisible by the group count");
}

void check_launch(const char* error) { TORCH_CHECK(error == nullptr, "CUDA launch failed: ", error); }

int dtype_code(const torch::Tensor& x) {
  switch (x.scalar_type()) {
    case torch::kFloat32: return 0;
    case torch::kFloat16: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "rational: x must be float32, float16 or bfloat16");
  }
  return -1;
}

void check_vectorizable(const torch::Tensor& t) {
  TORCH_CHECK(t.size(1) % 4 == 0, "kbench_cuda: D must be a multiple of 4");
  TORCH_CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % (4 * t.element_size()) == 0,
              "kbench_cuda: tensors must be aligned to 4 elements");
}

torch::Tensor kat_forward(torch::Tensor x, torch::Tensor a, torch::Tensor b) {
  check_inputs(x, a, b);
  TORCH_CHECK(x.scalar_type() == torch::kFloat32, "kat_cuda: x must be float32");
  auto y = torch::empty_like(x);
  const int D = x.size(1), G = a.size(0);
  check_launch(kat2024_forward(x.data_ptr<float>(), a.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(),
                               x.numel(), D, D / G, c10::cuda::getCurrentCUDAStream()));
  return y;
}

std::vector<torch::Tensor> kat_backward(torch::Tensor x, torch::Tensor dy, torch::Tensor a, torch::Tensor b) {
  check_inputs(x, a, b);
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 && dy.scalar_type() == torch::kFloat32 && dy.is_contiguous(),
              "kat_cuda: x and dy must be contiguous float32");
  auto dx = torch::empty_like(x);
  auto da = torch::zeros_like(a);
  auto db = torch::zeros_like(b);
  const int D = x.size(1), G = a.size(0);
  check_launch(kat2024_backward(x.data_ptr<float>(), dy.data_ptr<float>(), a.data_ptr<float>(), b.data_ptr<float>(),
                                dx.data_ptr<float>(), da.data_ptr<float>(), db.data_ptr<float>(), x.numel(), D,
                                D / G, G, c10::cuda::getCurrentCUDAStream()));
  return {dx, da, db};
}

// Multiprocessors of the current device (ATen's CUDAContext.h would pull in cuBLAS and cuSPARSE headers).
int sm_count() {
  int device = 0, count = 0;
  TORCH_CHECK(cudaGetDevice(&device) == cudaSuccess, "kbench_cuda: no current CUDA device");
  TORCH_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) == cudaSuccess,
              "kbench_cuda: cannot read the multiprocessor count");
  return count;
}

torch::Tensor kb_forward(torch::Tensor x, torch::Tensor a, torch::Tensor b) {
  check_inputs(x, a, b);
  check_vectorizable(x);
  auto y = torch::empty_like(x);
  const int D = x.size(1), G = a.size(0);
  check_launch(kbench_forward(dtype_code(x), x.data_ptr(), a.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr(),
                              x.size(0), D, D / G, sm_count(), c10::cuda::getCurrentCUDAStream()));
  return y;
}

// dx, dA and dB; the per-block partials live in a workspace whose size the launcher reports first.
std::vector<torch::Tensor> kb_backward(torch::Tensor x, torch::Tensor dy, torch::Tensor a, torch::Tensor b) {
  check_inputs(x, a, b);
  check_vectorizable(x);
  TORCH_CHECK(dy.sizes() == x.sizes() && dy.scalar_type() == x.scalar_type() && dy.is_contiguous(),
              "kbench_cuda: dy must match x");
  check_vectorizable(dy);
  const int code = dtype_code(x), D = x.size(1), G = a.size(0), sms = sm_count();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  int64_t floats = 0;
  check_launch(kbench_backward(code, x.data_ptr(), dy.data_ptr(), nullptr, nullptr, nullptr, nullptr, nullptr,
                               nullptr, &floats, x.size(0), D, D / G, sms, stream));
  auto workspace = torch::empty({floats}, x.options().dtype(torch::kFloat32));
  auto dx = torch::empty_like(x);
  auto da = torch::empty_like(a);
  auto db = torch::empty_like(b);
  check_launch(kbench_backward(code, x.data_ptr(), dy.data_ptr(), a.data_ptr<float>(), b.data_ptr<float>(),
                               dx.data_ptr(), da.data_ptr<float>(), db.data_ptr<float>(),
                               workspace.data_ptr<float>(), &floats, x.size(0), D, D / G, sms, stream));
  return {dx, da, db};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("kat_forward", &kat_forward, "KAT 2024 forward (fp32)");
  m.def("kat_backward", &kat_backward, "KAT 2024 backward: shared then global atomics (fp32)");
  m.def("kb_forward", &kb_forward, "kbench forward");
  m.def("kb_backward", &kb_backward, "kbench backward: dx, dA, dB (deterministic)");
}
