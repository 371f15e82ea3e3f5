import CBLAS

/// OpenBLAS's worker-thread count, which is process-wide. The encoder's matrices are small (tens to a few thousand
/// rows), so the default of one thread per core is kept unless a benchmark or a setting asks otherwise;
/// `OPENBLAS_NUM_THREADS` also works when set before start.
public enum OpenBLASThreads {
    public static var current: Int { Int(openblas_get_num_threads()) }

    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(count, 1)))
    }
}
