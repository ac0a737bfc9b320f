// Two users chat in one room: node examples/quickstart.mjs (after npm ci && npm run build).
import { connect } from '@chatd/client/node'; // in a browser: from '@chatd/client'

const url = process.env.CHATD_URL ?? 'ws://localhost:8080/ws';
const alice = connect({ url, name: 'alice' });
const bob = connect({ url, name: 'bob' });

const bobsRoom = bob.room('general'); // listeners first, then join
const heard = new Promise((resolve) => bobsRoom.on('message', resolve));
await bobsRoom.join({ history: 10 });

const general = alice.room('general');
general.on('gap', (g) => console.log(`messages before #${g.position.offset + 1} are missing`));
await general.join();
const { offset } = await general.publish('hello from alice');
console.log(`alice's message is #${offset} in general`);

const m = await heard;
console.log(`bob got "${m.content}" from ${m.name}`);
console.log('members:', (await general.presence()).members.map((u) => u.name).sort().join(', '));
alice.close();
bob.close();
