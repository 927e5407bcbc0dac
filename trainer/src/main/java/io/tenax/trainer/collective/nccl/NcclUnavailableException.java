package io.tenax.trainer.collective.nccl;

/** No GPU collective here: the libraries, a device or the driver are missing; the message says which. */
public final class NcclUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NcclUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
