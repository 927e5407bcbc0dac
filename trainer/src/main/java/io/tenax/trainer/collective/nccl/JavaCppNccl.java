package io.tenax.trainer.collective.nccl;

import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.nccl.NCCL_SHRINK_ABORT;
import static org.bytedeco.cuda.global.nccl.NCCL_VERSION_CODE;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommFinalize;
import static org.bytedeco.cuda.global.nccl.ncclCommGetAsyncError;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRankConfig;
import static org.bytedeco.cuda.global.nccl.ncclCommShrink;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGetErrorString;
import static org.bytedeco.cuda.global.nccl.ncclGetLastError;
import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;
import static org.bytedeco.cuda.global.nccl.ncclGetVersion;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclConfig_t;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * {@link NcclBinding} on the JavaCPP CUDA presets. Gradients travel through host memory:
 * the host vector is copied into pinned memory, then to a device buffer, all-reduced there
 * by NCCL, and copied back, all on one non-blocking stream per communicator.
 *
 * <p>Only the JNI wrappers come from Maven; {@code libcudart.so.13}, {@code libnccl.so.2}
 * and the driver come from the host. {@link #load} says clearly which is missing.
 */
public final class JavaCppNccl implements NcclBinding {
    /** {@code NCCL_CONFIG_UNDEF_INT}: "not set, use the default". */
    private static final int UNDEF = Integer.MIN_VALUE;
    /** {@code NCCL_CONFIG_INITIALIZER}'s magic. */
    private static final int CONFIG_MAGIC = 0xcafebeef;
    private static final int UNIQUE_ID_BYTES = 128;

    private final int device;
    private final int version;
    private final String description;

    private JavaCppNccl(int device, int version, String description) {
        this.device = device;
        this.version = version;
        this.description = description;
    }

    /**
     * Loads the CUDA runtime and NCCL and selects {@code device}.
     *
     * @throws NcclUnavailableException saying what is missing: the libraries, a device, or a
     *     working driver
     */
    public static JavaCppNccl load(int device) {
        return load(device, false);
    }

    /**
     * As {@link #load(int)} for the {@code index}-th node process on this host (from 0): the
     * nodes take the devices in turn, since NCCL allows one rank per device.
     */
    public static JavaCppNccl loadForNode(int index) {
        return load(index, true);
    }

    private static JavaCppNccl load(int requested, boolean wrap) {
        try {
            Loader.load(org.bytedeco.cuda.global.cudart.class);
            Loader.load(org.bytedeco.cuda.global.nccl.class);
        } catch (LinkageError e) {
            throw new NcclUnavailableException("the CUDA runtime or NCCL could not be loaded ("
                    + firstLine(e) + "); a GPU host needs libcudart.so.13 and libnccl.so.2 on LD_LIBRARY_PATH", e);
        }
        int[] count = new int[1];
        int r = cudaGetDeviceCount(count);
        if (r != 0 || count[0] == 0) {
            throw new NcclUnavailableException(r != 0 ? "no usable CUDA device: " + cudaGetErrorString(r).getString()
                    : "no CUDA device on this host", null);
        }
        int device = wrap ? Math.floorMod(requested, count[0]) : requested;
        if (device < 0 || device >= count[0]) {
            throw new NcclUnavailableException("CUDA device " + device + " asked for; this host has " + count[0], null);
        }
        check("cudaSetDevice", cudaSetDevice(device));
        int[] v = new int[1];
        int nr = ncclGetVersion(v);
        if (nr != 0) {
            throw new NcclUnavailableException("ncclGetVersion failed: " + ncclGetErrorString(nr).getString(), null);
        }
        int[] driver = new int[1];
        int[] runtime = new int[1];
        cudaDriverGetVersion(driver);
        cudaRuntimeGetVersion(runtime);
        String description = "NCCL " + versionText(v[0]) + ", CUDA runtime " + cudaVersion(runtime[0]) + ", driver "
                + cudaVersion(driver[0]) + ", device " + device + " of " + count[0];
        return new JavaCppNccl(device, v[0], description);
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        int path = m.indexOf(" in java.library.path");
        return path < 0 ? m : m.substring(0, path) + " loadable"; // the search path itself says nothing useful
    }

    static String versionText(int code) {
        return code / 10000 + "." + code / 100 % 100 + "." + code % 100;
    }

    private static String cudaVersion(int code) {
        return code / 1000 + "." + code % 1000 / 10;
    }

    private static void check(String what, int cudaError) {
        if (cudaError != 0) {
            throw new NcclUnavailableException(what + ": " + cudaGetErrorString(cudaError).getString(), null);
        }
    }

    @Override
    public int version() {
        return version;
    }

    /** The CUDA device this process uses. */
    public int device() {
        return device;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public byte[] newUniqueId() {
        ncclUniqueId id = new ncclUniqueId();
        try {
            int r = ncclGetUniqueId(id);
            if (r != 0) {
                throw new IllegalStateException("ncclGetUniqueId: " + ncclGetErrorString(r).getString());
            }
            byte[] bytes = new byte[UNIQUE_ID_BYTES];
            id.internal().get(bytes);
            return bytes;
        } finally {
            id.close();
        }
    }

    /** A non-blocking configuration: {@code NCCL_CONFIG_INITIALIZER} by hand, then blocking = 0. */
    private ncclConfig_t config() {
        ncclConfig_t c = new ncclConfig_t();
        c.size(Loader.sizeof(ncclConfig_t.class));
        c.magic(CONFIG_MAGIC);
        c.version(Math.min(version, NCCL_VERSION_CODE));
        c.blocking(0);
        c.cgaClusterSize(UNDEF).minCTAs(UNDEF).maxCTAs(UNDEF).splitShare(UNDEF).trafficClass(UNDEF)
                .collnetEnable(UNDEF).CTAPolicy(UNDEF).shrinkShare(UNDEF).nvlsCTAs(UNDEF).nChannelsPerNetPeer(UNDEF)
                .nvlinkCentricSched(UNDEF).graphUsageMode(UNDEF).numRmaCtx(UNDEF).maxP2pPeers(UNDEF)
                .graphStreamOrdering(UNDEF);
        return c;
    }

    @Override
    public Communicator init(byte[] uniqueId, int worldSize, int rank) {
        if (uniqueId.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes, not "
                    + uniqueId.length);
        }
        check("cudaSetDevice", cudaSetDevice(device)); // the owner thread's current device
        ncclUniqueId id = new ncclUniqueId();
        id.internal().put(uniqueId);
        ncclComm comm = new ncclComm(null);
        ncclConfig_t config = config();
        int r = ncclCommInitRankConfig(comm, worldSize, id, rank, config);
        return started(comm, r, "ncclCommInitRankConfig");
    }

    @Override
    public Communicator shrink(Communicator parent, int[] excludedRanks) {
        check("cudaSetDevice", cudaSetDevice(device));
        ncclComm comm = new ncclComm(null);
        int r = ncclCommShrink(((Comm) parent).comm, excludedRanks, excludedRanks.length, comm, config(),
                NCCL_SHRINK_ABORT);
        return started(comm, r, "ncclCommShrink");
    }

    private Communicator started(ncclComm comm, int result, String call) {
        if (result != 0 && result != IN_PROGRESS) {
            throw new IllegalStateException(call + ": " + ncclGetErrorString(result).getString());
        }
        if (comm.isNull()) {
            throw new IllegalStateException(call + " returned no communicator");
        }
        CUstream_st stream = new CUstream_st(null);
        check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking));
        return new Comm(comm, stream);
    }

    /** One communicator, its stream, and a device buffer with a pinned host twin. */
    private static final class Comm implements Communicator {
        private final ncclComm comm;
        private final CUstream_st stream;
        private final int[] async = new int[1];
        private Pointer deviceBuffer;
        private FloatPointer hostBuffer;
        private java.nio.FloatBuffer hostView;
        private long capacityFloats;

        Comm(ncclComm comm, CUstream_st stream) {
            this.comm = comm;
            this.stream = stream;
        }

        @Override
        public int asyncError() {
            int r = ncclCommGetAsyncError(comm, async);
            return r != 0 ? r : async[0];
        }

        @Override
        public int enqueueAllReduce(float[] values, int count) {
            ensureCapacity(count);
            long bytes = (long) count * Float.BYTES;
            HostStaging.toHost(values, hostView, count);
            int copy = cudaMemcpyAsync(deviceBuffer, hostBuffer, bytes, cudaMemcpyHostToDevice, stream);
            if (copy != 0) {
                throw new IllegalStateException("cudaMemcpyAsync to the device: " + cudaGetErrorString(copy).getString());
            }
            return ncclAllReduce(deviceBuffer, deviceBuffer, count, ncclFloat32, ncclSum, comm, stream);
        }

        @Override
        public int enqueueCopyBack(int count) {
            return cudaMemcpyAsync(hostBuffer, deviceBuffer, (long) count * Float.BYTES, cudaMemcpyDeviceToHost,
                    stream);
        }

        @Override
        public int streamStatus() {
            return cudaStreamQuery(stream);
        }

        @Override
        public void readResult(float[] values, int count) {
            HostStaging.fromHost(hostView, values, count);
        }

        /** Grows the buffers; only between operations, so nothing in flight uses the old ones. */
        private void ensureCapacity(long floats) {
            if (floats <= capacityFloats) {
                return;
            }
            freeBuffers();
            long bytes = floats * Float.BYTES;
            Pointer d = new Pointer((Pointer) null);
            int r = cudaMalloc(d, bytes);
            if (r != 0) {
                throw new IllegalStateException("cudaMalloc of " + bytes + " bytes: " + cudaGetErrorString(r).getString());
            }
            Pointer h = new Pointer((Pointer) null);
            r = cudaMallocHost(h, bytes);
            if (r != 0) {
                cudaFree(d);
                throw new IllegalStateException("cudaMallocHost of " + bytes + " bytes: "
                        + cudaGetErrorString(r).getString());
            }
            deviceBuffer = d;
            hostBuffer = new FloatPointer(h).capacity(floats).limit(floats);
            hostView = hostBuffer.position(0).asBuffer();
            capacityFloats = floats;
        }

        private void freeBuffers() {
            if (deviceBuffer != null) {
                cudaFree(deviceBuffer);
                deviceBuffer = null;
            }
            if (hostBuffer != null) {
                cudaFreeHost(hostBuffer);
                hostBuffer = null;
                hostView = null;
            }
            capacityFloats = 0;
        }

        @Override
        public int finalizeComm() {
            return ncclCommFinalize(comm);
        }

        @Override
        public int destroy() {
            return ncclCommDestroy(comm);
        }

        @Override
        public int abort() {
            return ncclCommAbort(comm);
        }

        @Override
        public void release() {
            freeBuffers();
            cudaStreamDestroy(stream);
        }

        @Override
        public String errorText(int ncclResult) {
            String text = ncclGetErrorString(ncclResult).getString();
            BytePointer last = ncclGetLastError(comm);
            String detail = last == null || last.isNull() ? "" : last.getString();
            return detail.isEmpty() ? text : text + ": " + detail;
        }

        @Override
        public String cudaErrorText(int cudaError) {
            return cudaGetErrorString(cudaError).getString();
        }
    }
}
