export default function setup({ provide }) {
  provide('s3', { endpoint: process.env.EP, region: 'us-east-1', accessKeyId: 'test', secretAccessKey: 'test', kind: 'moto' });
}
