// A folder chosen in the browser packed as an uncompressed POSIX ustar archive (the controller accepts tar).

const encoder = new TextEncoder();

function field(header, offset, length, text) {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`"${text}" is too long for a tar header`);
  header.set(bytes, offset);
}

function octal(header, offset, length, value) {
  field(header, offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
}

function splitName(path) {
  if (encoder.encode(path).length <= 100) return ['', path];
  const cut = path.lastIndexOf('/', 155);
  if (cut <= 0 || encoder.encode(path.slice(cut + 1)).length > 100) throw new Error(`path too long for a tar archive: ${path}`);
  return [path.slice(0, cut), path.slice(cut + 1)];
}

function header(path, size, mtime) {
  const block = new Uint8Array(512);
  const [prefix, name] = splitName(path);
  field(block, 0, 100, name);
  octal(block, 100, 8, 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, size);
  octal(block, 136, 12, Math.floor(mtime / 1000));
  block.fill(32, 148, 156); // checksum counts as spaces while it is computed
  block[156] = '0'.charCodeAt(0);
  field(block, 257, 6, 'ustar\0');
  field(block, 263, 2, '00');
  field(block, 345, 155, prefix);
  const sum = block.reduce((a, b) => a + b, 0);
  field(block, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return block;
}

/** A Blob holding a tar of `files` (File objects from a folder input), named without the top folder. */
export function tarFolder(files) {
  const parts = [];
  for (const file of files) {
    const path = (file.webkitRelativePath || file.name).split('/').slice(1).join('/') || file.name;
    if (path.split('/').some((s) => s === '..' || s === '.' || s === '')) throw new Error(`unsafe path ${path}`);
    parts.push(header(path, file.size, file.lastModified || Date.now()), file);
    const pad = (512 - (file.size % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024));
  return new Blob(parts, { type: 'application/x-tar' });
}
