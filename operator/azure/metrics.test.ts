import t from 'tap';
import { operationOf } from './metrics.ts';

t.test('operation labels are bounded: types, never names', async (t) => {
  const sub = 'https://arm/subscriptions/s/resourceGroups/rg/providers';
  t.equal(operationOf('PUT', `${sub}/Microsoft.Network/loadBalancers/ilb?api-version=1`), 'PUT loadBalancers');
  t.equal(operationOf('GET', `${sub}/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/0/networkInterfaces`), 'GET virtualMachineScaleSets/virtualMachines/networkInterfaces');
  t.equal(operationOf('GET', `${sub}/Microsoft.Compute/virtualMachineScaleSets`), 'GET virtualMachineScaleSets');
  t.equal(operationOf('GET', 'https://arm/subscriptions/s/providers/Microsoft.Network/locations/eastus/operations/abc'), 'GET operationStatus');
  t.equal(operationOf('GET', 'https://arm/somewhere/else'), 'GET other');
});
