// libcublas.so.13 of the emulator: empty; it only depends on libcudaemu.so, where the emulated
// cuBLAS entry points live, so dlopen("libcublas.so.13") + dlsym finds them there (dlsym
// searches a handle's dependencies) and shares the emulated device memory with _core.
extern "C" int cuda_emu_cublas_stub() { return 13; }
