package io.tenax.actors.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.ByteBufferInput;
import com.esotericsoftware.kryo.io.ByteBufferOutput;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.Pool;
import java.io.NotSerializableException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.ByteBufferSerializer;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Kryo for every {@link TenaxMessage}, with registration required: only the classes of
 * {@link MessageRegistry} (and the few JDK and Pekko classes they contain) can be read, so a
 * payload naming any other class is refused before anything is instantiated. The manifest
 * is the class name and is looked up in the allowlist, never passed to {@code Class.forName}.
 */
public final class KryoSerializer extends SerializerWithStringManifest implements ByteBufferSerializer {
    /** Pekko's id for this serializer; stable, because journals store it. */
    public static final int IDENTIFIER = 7_318_001;
    private static final int MAX_BUFFER = 64 * 1024 * 1024;

    private final Map<String, Class<?>> byManifest = new HashMap<>();
    private final Pool<Kryo> pool;

    public KryoSerializer(ExtendedActorSystem system) {
        ActorRefResolver resolver = ActorRefResolver.get(Adapter.toTyped(system));
        for (Class<?> c : MessageRegistry.MESSAGES) {
            byManifest.put(c.getName(), c);
        }
        this.pool = new Pool<>(true, false, 16) {
            @Override
            protected Kryo create() {
                return newKryo(resolver);
            }
        };
    }

    /** A Kryo that knows exactly the allowlisted classes. Package-private for tests. */
    static Kryo newKryo(ActorRefResolver resolver) {
        Kryo kryo = new Kryo();
        kryo.setRegistrationRequired(true);
        kryo.setReferences(false);
        int id = MessageRegistry.FIRST_ID;
        kryo.register(List.of().getClass(), new ImmutableListSerializer(), id++);
        kryo.register(List.of(1).getClass(), new ImmutableListSerializer(), id++);
        kryo.register(ArrayList.class, new ImmutableListSerializer(), id++);
        kryo.register(MessageRegistry.ACTOR_REF_CLASS, new ActorRefSerializer(resolver), id++);
        for (Class<?> c : MessageRegistry.MESSAGES) {
            kryo.register(c, id++);
        }
        return kryo;
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getName();
    }

    @Override
    public byte[] toBinary(Object o) {
        Kryo kryo = pool.obtain();
        try (Output output = new Output(256, MAX_BUFFER)) {
            kryo.writeObject(output, o);
            return output.toBytes();
        } finally {
            pool.free(kryo);
        }
    }

    @Override
    public void toBinary(Object o, ByteBuffer buf) {
        Kryo kryo = pool.obtain();
        try {
            ByteBufferOutput output = new ByteBufferOutput(buf);
            kryo.writeObject(output, o);
            output.flush();
        } finally {
            pool.free(kryo);
        }
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        Class<?> type = allowed(manifest);
        return read(new Input(bytes), type, manifest);
    }

    @Override
    public Object fromBinary(ByteBuffer buf, String manifest) throws NotSerializableException {
        Class<?> type = allowed(manifest);
        return read(new ByteBufferInput(buf), type, manifest);
    }

    private Class<?> allowed(String manifest) throws NotSerializableException {
        Class<?> type = byManifest.get(manifest);
        if (type == null) {
            throw new NotSerializableException("class '" + manifest + "' is not on Tenax's message allowlist");
        }
        return type;
    }

    private Object read(Input input, Class<?> type, String manifest) throws NotSerializableException {
        Kryo kryo = pool.obtain();
        try {
            return kryo.readObject(input, type);
        } catch (KryoException | IllegalArgumentException | IndexOutOfBoundsException | NegativeArraySizeException
                | ClassCastException | NullPointerException e) {
            NotSerializableException ex = new NotSerializableException("malformed " + manifest + ": " + e.getMessage());
            ex.initCause(e);
            throw ex;
        } finally {
            pool.free(kryo);
        }
    }

    /** Writes any list, reads an immutable one: message records copy their lists anyway. */
    private static final class ImmutableListSerializer extends Serializer<List<?>> {
        private static final int MAX_ELEMENTS = 100_000;

        ImmutableListSerializer() {
            setImmutable(true);
        }

        @Override
        public void write(Kryo kryo, Output output, List<?> list) {
            output.writeVarInt(list.size(), true);
            for (Object element : list) {
                kryo.writeClassAndObject(output, element);
            }
        }

        @Override
        public List<?> read(Kryo kryo, Input input, Class<? extends List<?>> type) {
            int size = input.readVarInt(true);
            if (size > MAX_ELEMENTS) {
                throw new KryoException("list of " + size + " elements exceeds " + MAX_ELEMENTS);
            }
            Object[] elements = new Object[size];
            for (int i = 0; i < size; i++) {
                elements[i] = kryo.readClassAndObject(input);
            }
            return List.of(elements);
        }
    }

    /** Actor references travel as their serialization format, resolved on the receiving node. */
    private static final class ActorRefSerializer extends Serializer<ActorRef<?>> {
        private final ActorRefResolver resolver;

        ActorRefSerializer(ActorRefResolver resolver) {
            this.resolver = resolver;
            setImmutable(true);
        }

        @Override
        public void write(Kryo kryo, Output output, ActorRef<?> ref) {
            output.writeString(resolver.toSerializationFormat(ref));
        }

        @Override
        public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
            return resolver.resolveActorRef(input.readString());
        }
    }
}
