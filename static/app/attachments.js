// Image files (picked, pasted or dropped) as data URIs for `image_url` content parts (other
// files are documents: documents.js). Large
// photos are scaled down in the browser first: the model sees no more than about 2048 pixels
// a side anyway, and a smaller frame reaches the server sooner.

export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];
const MAX_SIDE = 2048;
const SMALL_ENOUGH = 1.5 * 1024 * 1024;

function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function scaledDown(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size <= SMALL_ENOUGH) {
    bitmap.close();
    return null;
  }
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const type = file.type === "image/png" ? "image/png" : "image/jpeg";
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.9));
  return blob && blob.size < file.size ? blob : null;
}

// {name, url} for an image file; throws an Error with a message for anything else.
export async function imageAttachment(file) {
  if (!IMAGE_TYPES.includes(file.type)) {
    throw new Error(`${file.name || "That file"} is not a PNG, JPEG, WEBP or GIF image.`);
  }
  let blob = file;
  if (file.type !== "image/gif") {
    try {
      blob = (await scaledDown(file)) || file;
    } catch {
      blob = file; // not decodable here; let the server judge it
    }
  }
  return { name: file.name || "pasted image", url: await readAsDataUrl(blob) };
}

export function filesIn(dataTransfer) {
  return [...(dataTransfer?.files || [])];
}

export function isImage(file) {
  return file.type.startsWith("image/");
}
