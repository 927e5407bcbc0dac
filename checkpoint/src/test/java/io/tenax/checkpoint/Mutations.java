package io.tenax.checkpoint;

import java.util.Arrays;
import java.util.Random;

/** Byte-level mutations of a valid input, as a fuzzer makes them; the fuzz tests of every module use it. */
public final class Mutations {
    private Mutations() {
    }

    /** One to four mutations of {@code input}: bit flips, special bytes, truncation, insertion, 0xFF runs, deletion. */
    public static byte[] mutate(byte[] input, Random rng) {
        byte[] out = input.clone();
        int rounds = 1 + rng.nextInt(4);
        for (int r = 0; r < rounds; r++) {
            switch (rng.nextInt(6)) {
                case 0 -> { // flip one bit
                    if (out.length > 0) {
                        int i = rng.nextInt(out.length);
                        out[i] ^= (byte) (1 << rng.nextInt(8));
                    }
                }
                case 1 -> { // overwrite a byte with an interesting value
                    if (out.length > 0) {
                        byte[] interesting = {0, -1, 127, -128, 1, 0x7f, (byte) 0x80};
                        out[rng.nextInt(out.length)] = interesting[rng.nextInt(interesting.length)];
                    }
                }
                case 2 -> out = Arrays.copyOf(out, rng.nextInt(out.length + 1)); // truncate
                case 3 -> { // insert random bytes
                    int at = rng.nextInt(out.length + 1);
                    byte[] extra = new byte[1 + rng.nextInt(8)];
                    rng.nextBytes(extra);
                    byte[] grown = new byte[out.length + extra.length];
                    System.arraycopy(out, 0, grown, 0, at);
                    System.arraycopy(extra, 0, grown, at, extra.length);
                    System.arraycopy(out, at, grown, at + extra.length, out.length - at);
                    out = grown;
                }
                case 4 -> { // a run of 0xFF: huge lengths and counts
                    if (out.length > 0) {
                        int at = rng.nextInt(out.length);
                        Arrays.fill(out, at, Math.min(out.length, at + 1 + rng.nextInt(8)), (byte) 0xFF);
                    }
                }
                default -> { // delete a range
                    if (out.length > 1) {
                        int at = rng.nextInt(out.length);
                        int len = 1 + rng.nextInt(Math.min(8, out.length - at));
                        byte[] shrunk = new byte[out.length - len];
                        System.arraycopy(out, 0, shrunk, 0, at);
                        System.arraycopy(out, at + len, shrunk, at, out.length - at - len);
                        out = shrunk;
                    }
                }
            }
        }
        return out;
    }
}
