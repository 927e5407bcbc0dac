package io.tenax.checkpoint;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** What an S3 failure says to a user: the server's code and message, and what to check. */
final class S3Errors {

    private S3Errors() {
    }

    /** One sentence: which bucket, what failed, what the server said, and what to check. */
    static CheckpointException access(String bucket, String what, SdkException e) {
        int status = e instanceof S3Exception s ? s.statusCode() : 0;
        String detail = describe(e);
        String sentence;
        if (status == 404) {
            sentence = bucket + " does not exist (" + detail + "); create it, or name another bucket";
        } else if (status == 403 || status == 401) {
            sentence = "access to " + bucket + " is denied (" + detail + "); check the credentials"
                    + " (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance's role) and the"
                    + " bucket's policy";
        } else if (status == 301) {
            sentence = bucket + " is in another region (" + detail + "); set tenax.checkpoint.s3.region to it";
        } else if (status == 0 && detail.contains("credentials")) {
            sentence = "no AWS credentials for " + bucket + " (" + detail + "); set AWS_ACCESS_KEY_ID and"
                    + " AWS_SECRET_ACCESS_KEY, or AWS_PROFILE";
        } else {
            sentence = "cannot use " + bucket + ": " + what + " failed (" + detail + ")";
        }
        return new CheckpointException(CheckpointFailureReason.ACCESS, sentence, e);
    }

    /** The server's error code, status and message, or the client's first line (no request ids or stack). */
    static String describe(SdkException e) {
        if (e instanceof S3Exception s) {
            AwsErrorDetails d = s.awsErrorDetails();
            String code = d != null && d.errorCode() != null && !d.errorCode().isEmpty() ? d.errorCode() : "error";
            String message = d != null && d.errorMessage() != null ? ": " + d.errorMessage() : "";
            return code + ", HTTP " + s.statusCode() + message;
        }
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
