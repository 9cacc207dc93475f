package io.ksa.streams;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

/**
 * Counts records that reach a windowed aggregation after the grace period of (one of) their windows, with the same
 * rule Kafka Streams applies right after this step (window end + grace <= observed stream time): Kafka Streams skips
 * such windows ("Skipping record for expired window"); here they are counted, so the status can say so.
 */
final class LateRecords implements FixedKeyProcessor<String, Object, Object> {
    private final Spec.Window window;
    private final AtomicLong late;
    private FixedKeyProcessorContext<String, Object> context;
    private long observed = Long.MIN_VALUE;

    LateRecords(Spec.Window window, AtomicLong late) {
        this.window = window;
        this.late = late;
    }

    @Override
    public void init(FixedKeyProcessorContext<String, Object> context) {
        this.context = context;
    }

    @Override
    public void process(FixedKeyRecord<String, Object> record) {
        long ts = record.timestamp();
        observed = Math.max(observed, ts);
        long grace = window.graceMs == null ? 0L : window.graceMs;
        long close = observed - grace;
        boolean isLate;
        switch (window.type) {
            case "tumbling", "hopping" -> {
                long size = window.sizeMs;
                long advance = window.advanceMs == null ? size : window.advanceMs;
                long start = Math.max(0, ts - size + advance) / advance * advance;
                // the earliest window holding the record closes first
                isLate = start + size <= close;
            }
            case "sliding" -> isLate = ts + window.sizeMs < close;
            default -> isLate = ts < close; // session: a record older than stream time minus grace
        }
        if (isLate) {
            late.incrementAndGet();
        }
        context.forward(record);
    }
}
