package io.ksa.streams;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Records that could not be processed as written: an expression that failed to evaluate, a filter that did not
 * return a boolean, a value that does not fit its declared column type. They are counted (and the last few kept with
 * their reason) so the status of the application shows them instead of an output that is silently smaller.
 */
public final class Failures {
    private static final int KEEP = 10;
    private final AtomicLong count = new AtomicLong();
    private final Deque<String> recent = new ArrayDeque<>();

    /** The failures of this JVM (one application per JVM). */
    public static final Failures GLOBAL = new Failures();

    public void record(String where, String reason) {
        count.incrementAndGet();
        String line = where + ": " + reason;
        synchronized (recent) {
            if (recent.size() >= KEEP) {
                recent.removeFirst();
            }
            recent.addLast(line.length() > 300 ? line.substring(0, 300) + "..." : line);
        }
    }

    public long count() {
        return count.get();
    }

    public List<String> recent() {
        synchronized (recent) {
            return new ArrayList<>(recent);
        }
    }

    public void reset() {
        count.set(0);
        synchronized (recent) {
            recent.clear();
        }
    }
}
